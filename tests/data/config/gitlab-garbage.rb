# A gitlab.rb that has grown some Ruby over the years.
registry_external_url "https://#{ENV['REGISTRY_HOST']}:5050"
registry['storage'] = {
  's3' => {
    'accesskey' => ENV['S3_ACCESS'],
    'secretkey' => "pre-#{ENV['S3_SECRET']}",
    'bucket' => 'still-read-later'
  }
}
registry['log_level'] = 'info'
gitlab_rails['registry_path'] = <<~PATH
  /mnt/registry
PATH
registry['debug_addr'] = "localhost:5001" if node['fqdn'] == 'gitlab-1'
if File.exist?('/etc/gitlab/use-gcs')
  registry['storage'] = { 'gcs' => { 'bucket' => 'gcs-bucket' } }
end
registry['health_storagedriver_enabled'] = true
roles ['registry_role']
%w(a b).each do |r|
  puts r
end
registry['validation_enabled'] = false
registry['broken'] = { 'a' => [1, 2
registry['after_broken'] = 'still read'
registry['autoredirect'] = false
