## GitLab configuration settings
##! This file is generated during initial installation and **is not** modified
##! during upgrades.

external_url 'https://gitlab.example.com'

### Settings used by GitLab application
gitlab_rails['registry_enabled'] = true
gitlab_rails['registry_host'] = "registry.example.com"
gitlab_rails['registry_port'] = "5050"
gitlab_rails['registry_api_url'] = "http://127.0.0.1:5000"   # internal address
gitlab_rails['registry_issuer'] = "omnibus-gitlab-issuer"
gitlab_rails['registry_notification_secret'] = 'n0t1f1cat10nS3cr3tValue'
gitlab_rails['db_password'] = File.read('/run/secrets/gitlab-postgres-password').strip

registry_external_url 'https://registry.example.com:5050'

### Settings used by Registry application
registry['enable'] = true
registry['registry_http_addr'] = "127.0.0.1:5000"
registry['debug_addr'] = "localhost:5001"
registry['log_level'] = 'debug'
registry['log_formatter'] = "json"
registry['storage_delete_enabled'] = true
registry['compatibility_schema1_enabled'] = false
registry['env'] = {
  'SSL_CERT_DIR' => "/opt/gitlab/embedded/ssl/certs/",
  "GODEBUG" => "http2client=0",   # GCS and HTTP/2 (push failures, high CPU)
  "REGISTRY_HTTP_RELATIVEURLS" => true,
}

### Registry backend storage
registry['storage'] = {
  's3' => {
    'accesskey' => 'AKIAEXAMPLEACCESS',
    'secretkey' => "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    'bucket' => 'gitlab-registry-prod',
    'region' => 'eu-west-1',
    'chunksize' => 50 * 1024 * 1024, # 50 MiB
  },
  'redirect' => {
    'disable' => false
  }
}

# Enable Prometheus metrics
registry['debug'] = {
  'prometheus' => {
    'enabled' => true,
    'path' => '/metrics'
  }
}

registry['gc'] = {
  'disabled' => false,
  'maxbackoff' => '24h',
  'blobs' => { 'interval' => '5s', storagetimeout: '5s' },
  'manifests' => { interval: '5s' },
}

registry['notifications'] = [
  {
    'name' => 'geo_event',
    'url' => 'https://gitlab.example.com/api/v4/container_registry_event/events',
    'timeout' => '500ms',
    'threshold' => 5,
    'backoff' => '1s',
    'headers' => {
      "Authorization" => ["n0t1f1cat10nS3cr3tValue"]
    }
  }
]

registry_nginx['listen_port'] = 5050
registry_nginx['listen_https'] = false
registry_nginx['proxy_set_headers'] = {
  "X-Forwarded-Proto" => "https",
  "X-Forwarded-Ssl" => "on"
}
nginx['listen_port'] = 80
nginx['listen_https'] = false

# registry['rootcertbundle'] = "/var/opt/gitlab/registry/certificate.crt"
