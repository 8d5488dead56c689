## GitLab with the registry on Google Cloud Storage, without the HTTP/2 workaround
external_url 'https://gitlab.example.com'
registry_external_url 'https://registry.example.com:5050'
registry['registry_http_addr'] = "127.0.0.1:5000"
registry['storage'] = {
  'gcs' => {
    'bucket' => 'registry-images',
    'keyfile' => '/etc/gitlab/gcs-key.json'
  }
}
registry['env'] = {
  'SSL_CERT_DIR' => "/opt/gitlab/embedded/ssl/certs/"
}
