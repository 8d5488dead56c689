"""The signature catalogue: every signature has test lines (real where the lab can produce them, else the
documented format), extracts its fields, and reads the same in RE2 and in `grep -E`."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from runbooklib.logs import BY_ID, CATALOGUE, grep_union, scan_logs
from runbooklib.logs.signatures import LINE_SIGNATURES, ere_pattern, re2_pattern, union_pattern
from runbooklib.scenarios import CATALOGUE as SCENARIOS

SV = "2026-11-27_16:57:38.15222 "  # Omnibus svlogd prefix

# signature id -> lines it must match (prefix "real:" marks a line captured from the lab's registry 2.8.2)
SAMPLES: dict[str, list[str]] = {
    "token-untrusted-key": [
        SV + 'time="2026-11-27T16:57:38.152116601Z" level=info msg="token signed by untrusted key with ID: '
        '\\"4CC4:VB3L:K3VJ:FUCL:FH4C:23TN:7J7Y:6DUT:J4IY:6HQY:XXDP:QSW3\\""',
        # as the seed prints it (quotes not escaped)
        'level=info msg="token signed by untrusted key with ID: "TOKE:NL6Q:7PW6:EXAM:PLET:OKEN:BG27:RCIB:D2S3:'
        'EXAM:PLET:OKEN""',
        '{"level":"info","msg":"token signed by untrusted key with ID: \\"KFSJ:AAAA:BBBB:CCCC:DDDD:EEEE:FFFF:GGGG:'
        'HHHH:IIII:JJJJ:PH7F\\"","time":"2026-11-27T15:41:50.1Z"}',
    ],
    "token-no-signing-key": [
        SV + 'time="2026-11-27T16:57:38.160814037Z" level=info msg="unable to get token signing key"',
    ],
    "token-untrusted-issuer": [
        SV + 'time="2026-11-27T16:57:38.155723387Z" level=info msg="token from untrusted issuer: \\"evil\\""',
        '{"level":"info","msg":"token from untrusted issuer: \\"x\\"","time":"2026-11-27T16:57:55.303996287Z"}',
    ],
    "token-wrong-audience": [
        SV + 'time="2026-11-27T16:57:38.15450908Z" level=info msg="token intended for another audience: \\"other\\""',
    ],
    "token-expired": [
        SV + 'time="2026-11-27T16:57:38.156994447Z" level=info msg="token not to be used after 2026-11-27 15:58:38 '
        '+0000 UTC - currently 2026-11-27 16:57:38.156984422 +0000 UTC m=+154.023498925"',
    ],
    "token-not-yet-valid": [
        SV + 'time="2026-11-27T16:57:38.158834249Z" level=info msg="token not to be used before 2026-11-27 17:56:38 '
        '+0000 UTC - currently 2026-11-27 16:57:38.158825926 +0000 UTC m=+154.025340419"',
    ],
    "auth-invalid-token": [
        SV + 'time="2026-11-27T16:57:38.152269487Z" level=warning msg="error authorizing context: invalid token" '
        'go.version=go1.19.8 http.request.host="127.0.0.1:59941" http.request.method=GET '
        'http.request.uri=/v2/group/project/app/tags/list http.request.useragent=python-httpx/0.28.1',
        '{"go.version":"go1.19.8","http.request.method":"GET","http.request.uri":"/v2/_catalog","level":"warning",'
        '"msg":"error authorizing context: invalid token","time":"2026-11-27T16:57:55.304050748Z"}',
    ],
    "auth-insufficient-scope": [
        SV + 'time="2026-11-27T16:57:38.162206116Z" level=warning msg="error authorizing context: insufficient scope" '
        'http.request.method=GET http.request.uri=/v2/group/project/app/tags/list',
    ],
    "auth-token-required": [
        SV + 'time="2026-11-27T16:55:04.214979391Z" level=warning msg="error authorizing context: authorization '
        'token required" http.request.method=GET http.request.uri=/v2/ http.request.useragent=skopeo/1.9.3',
        '{"http.request.method":"GET","http.request.uri":"/v2/","level":"warning","msg":"error authorizing context: '
        'authorization token required","time":"2026-11-27T16:57:55.29029605Z"}',
    ],
    "s3-unexpected-eof": [
        # the seed's line, behind svlogd
        SV + 'level=error msg="response completed with error" err.code=unknown err.detail="unexpected EOF" '
        'err.message="unknown error"',
        '{"err.code":"unknown","err.detail":"unexpected EOF","err.message":"unknown error","level":"error",'
        '"msg":"response completed with error","time":"2026-11-27T15:40:37Z"}',
        # GitLab's fork (LabKit fields)
        '{"code":"UNKNOWN","correlation_id":"01HQ3V4ZP7XJ6R1ABCDEF","detail":"unexpected EOF","error":"unknown: '
        'unknown error","level":"error","method":"PATCH","msg":"response completed with error","status":500,'
        '"time":"2026-11-27T15:40:37.1Z","uri":"/v2/group/big/blobs/uploads/1f7a"}',
    ],
    "blob-patch-unexpected-eof": [
        # registry 2.8 when a push is cut off mid-PATCH (seen in the lab's stale-uploads fault)
        SV + 'time="2026-11-27T18:20:11.5Z" level=error msg="client disconnected during blob PATCH" '
        'auth.user.name=lab-user error="unexpected EOF" http.request.method=PATCH '
        'http.request.uri="/v2/group/project/app/blobs/uploads/5f0c" vars.name=group/project/app',
    ],
    "s3-access-denied": [
        SV + 'time="2026-11-27T15:40:37Z" level=error msg="response completed with error" err.code=unknown '
        'err.detail="s3aws: AccessDenied: Access Denied\\n\\tstatus code: 403, request id: 7YQ5K8Z8, host id: '
        'abc=" err.message="unknown error" http.request.method=HEAD',
        '{"code":"UNKNOWN","detail":"s3aws: AccessDenied: Access Denied\\n\\tstatus code: 403, request id: X, '
        'host id: Y","level":"error","msg":"response completed with error","status":500}',
    ],
    "s3-bad-credentials": [
        SV + 'level=error msg="response completed with error" err.code=unknown err.detail="s3aws: InvalidAccessKeyId: '
        'The AWS Access Key Id you provided does not exist in our records.\\n\\tstatus code: 403, request id: A"',
        SV + 'level=error msg="response completed with error" err.code=unknown err.detail="s3aws: '
        'NoCredentialProviders: no valid providers in chain. Deprecated."',
    ],
    "s3-wrong-region": [
        SV + 'level=error msg="response completed with error" err.code=unknown err.detail="s3aws: '
        'AuthorizationHeaderMalformed: The authorization header is malformed; the region \'us-east-1\' is wrong; '
        'expecting \'eu-west-1\'\\n\\tstatus code: 400, request id: B"',
    ],
    "gcs-http2-error": [
        SV + 'level=error msg="response completed with error" err.code=unknown err.detail="gcs: Post '
        '\\"https://storage.googleapis.com/upload/storage/v1/b/registry/o?alt=json\\": http2: server sent GOAWAY '
        'and closed the connection; LastStreamID=1999, ErrCode=NO_ERROR, debug=\\"\\""',
        '{"code":"UNKNOWN","detail":"gcs: Put \\"https://storage.googleapis.com/x\\": stream error: stream ID 3; '
        'INTERNAL_ERROR; received from peer","level":"error","msg":"response completed with error","status":500}',
    ],
    "health-check-failed": [
        # the registry's 503 body, as clients and curl -v show it (real, from the lab with S3 stopped)
        '{"errors":[{"code":"UNAVAILABLE","message":"service unavailable","detail":"health check failed: please '
        'see /debug/health"}]}',
    ],
    "http-503": [
        "2026-11-27_16:57:47.37276 127.0.0.1 - - [27/Nov/2026:16:57:47 +0000] \"GET /v2/ HTTP/1.1\" 503 125 \"\" "
        "\"python-httpx/0.28.1\"",
        '{"correlation_id":"01HQ","method":"GET","msg":"access","status":503,"uri":"/v2/","level":"info"}',
    ],
    "tls-handshake-unknown-ca": [
        "2026/11/27 17:11:15 http: TLS handshake error from 127.0.0.1:38254: remote error: tls: bad certificate",
        "2026/11/27 15:40:37 http: TLS handshake error from 127.0.0.1:57394: remote error: tls: unknown "
        "certificate authority",
    ],
    "x509-unknown-authority": [
        'time="2026-11-27T17:11:15Z" level=fatal msg="Error parsing image name \\"docker://127.0.0.1:44721/x:y\\": '
        'pinging container registry 127.0.0.1:44721: Get \\"https://127.0.0.1:44721/v2/\\": x509: certificate '
        'signed by unknown authority"',
        "Error response from daemon: Get registry.example.com/v1/users/: x509: certificate signed by unknown "
        "authority",
        "httpx.ConnectError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate "
        "(_ssl.c:1006)",
    ],
    "x509-hostname-mismatch": [
        'Error response from daemon: Get "https://registry.example.com/v2/": x509: certificate is valid for '
        'gitlab.example.com, not registry.example.com',
    ],
    "client-403-empty-body": [
        'error parsing HTTP 403 response body: unexpected end of JSON input: ""',
    ],
    "nginx-ipv6-upstream-refused": [
        '2026/11/27 15:40:59 [error] 1201#0: *13442797 connect() failed (111: Connection refused) while connecting '
        'to upstream, client: 10.0.0.5, server: registry.example.com, request: "GET /v2/group/app/manifests/latest '
        'HTTP/1.1", upstream: "http://[::1]:5000/v2/group/app/manifests/latest", host: "registry.example.com:5005"',
    ],
    "nginx-upstream-refused": [
        '2026/11/27 15:40:59 [error] 7274#7274: *18 connect() failed (111: Connection refused) while connecting to '
        'upstream, client: 127.0.0.1, server: registry.example.com, request: "GET /v2/ HTTP/1.1", upstream: '
        '"http://127.0.0.1:5000/v2/", host: "registry.example.com"',
    ],
    "http-502": [
        '10.0.0.5 - - [27/Nov/2026:15:41:50 +0000] "PUT /v2/group/app/blobs/uploads/1f7a?_state=x&digest=sha256%3Aab '
        'HTTP/1.1" 502 150 "-" "docker/24.0.7 go/go1.20.10"',
        # Omnibus' gitlab_access format: a gzip ratio after the user agent
        '10.0.0.5 - - [27/Nov/2026:15:41:50 +0000] "PATCH /v2/group/app/blobs/uploads/1f7a HTTP/1.1" 502 150 "" '
        '"docker/24.0.7" -',
    ],
    "http-500": [
        SV + 'level=error msg="response completed with error" err.code=unknown err.detail="boom" '
        'http.request.method=GET http.request.uri=/v2/x/tags/list http.response.status=500',
        '{"method":"GET","path":"/jwt/auth","controller":"JwtController","action":"auth","status":500,'
        '"time":"2026-11-27T15:40:37.123Z"}',
    ],
    "push-403-response": [
        '10.0.0.5 - - [27/Nov/2026:15:41:50 +0000] "HEAD /v2/root/docker-test/blobs/sha256:'
        + "d" * 64 + ' HTTP/1.1" 403 0 "" "docker/1.12.6"',
        SV + 'level=error msg="response completed with error" http.request.method=PUT '
        'http.request.remoteaddr="10.0.0.5:1234" http.request.uri="/v2/root/app/blobs/uploads/1f7a?_state=x" '
        'http.response.status=403',
        '{"method":"HEAD","msg":"access","status":403,"uri":"/v2/root/app/blobs/sha256:' + "e" * 64 + '"}',
    ],
    "schema1-manifest": [
        SV + 'level=info msg="authorized request" http.request.contenttype="application/vnd.docker.distribution.'
        'manifest.v1+prettyjws" http.request.method=PUT http.request.uri=/v2/old/app/manifests/latest',
        '10.0.0.5 - - [27/Nov/2026:15:41:50 +0000] "PUT /v2/old/app/manifests/latest HTTP/1.1" 400 0 "" '
        '"docker/1.9.1" application/vnd.docker.distribution.manifest.v1+json',
    ],
    "old-docker-client": [
        '10.0.0.5 - - [27/Nov/2026:15:41:50 +0000] "GET /v2/ HTTP/1.1" 401 87 "" "docker/1.6.2 go/go1.4.2 '
        'git-commit/7c8fca2 kernel/3.13.0 os/linux arch/amd64"',
    ],
    "blob-unknown": [
        SV + 'time="2026-11-27T16:57:38.172197346Z" level=error msg="response completed with error" '
        'auth.user.name=lab-user err.code="blob unknown" err.detail="sha256:' + "0" * 63 + '1" err.message="blob '
        'unknown to registry" http.request.method=GET http.request.uri="/v2/group/project/app/blobs/sha256:'
        + "0" * 63 + '1" http.response.status=404',
        '{"code":"BLOB_UNKNOWN","correlation_id":"01HQ","detail":"sha256:ab","level":"error","method":"HEAD",'
        '"msg":"response completed with error","status":404,"uri":"/v2/a/blobs/sha256:ab"}',
    ],
    "manifest-unknown": [
        SV + 'time="2026-11-27T16:57:38.179286022Z" level=error msg="response completed with error" '
        'err.code="manifest unknown" err.detail="unknown tag=nope" err.message="manifest unknown" '
        'http.request.method=GET http.request.uri=/v2/group/project/app/manifests/nope http.response.status=404',
    ],
    "registry-unknown-error": [
        SV + 'level=error msg="response completed with error" err.code=unknown err.detail="s3aws: RequestTimeout: '
        'Your socket connection to the server was not read from" err.message="unknown error"',
    ],
    "request-error": [
        '{"code":"NAME_UNKNOWN","level":"error","msg":"response completed with error","status":404}',
    ],
    "missing-registry-key": [
        "Errno::ENOENT: No such file or directory @ rb_sysopen - /var/opt/gitlab/gitlab-rails/etc/gitlab-registry.key",
        '{"method":"DELETE","path":"/api/v4/projects/42","controller":"API","action":"destroy","status":500,'
        '"time":"2026-11-27T15:40:37.123Z","exception.class":"Errno::ENOENT","exception.message":"No such file or '
        'directory @ rb_sysopen - /var/opt/gitlab/gitlab-rails/etc/gitlab-registry.key","correlation_id":"01HQ"}',
    ],
    # --- notifications (issue #19; sources in tests/data/logs/notifications/README.md) -------------------------
    "notification-refused": [
        # real: the lab's registry 2.8.2 with the notification-secret-mismatch fault
        '2026-12-01_02:26:54.86971 time="2026-12-01T02:26:54.869633Z" level=error msg="retryingsink: error writing '
        'events: httpSink{http://127.0.0.1:38719/api/v4/container_registry_event/events}: response status 401 '
        'Unauthorized unaccepted, retrying"',
        # GitLab's fork: the same error text in the `error` field of "backoffSink: error writing event"
        '{"error":"httpSink{https://gitlab.example.com/api/v4/container_registry_event/events}: response status 401 '
        'Unauthorized unaccepted","level":"error","msg":"backoffSink: error writing event"}',
    ],
    "notification-rejected": [
        "retryingsink: error writing events: httpSink{http://callback.url}: response status 400 Bad Request "
        "unaccepted, retrying",
    ],
    "notification-unreachable": [
        # real: the lab's registry 2.8.2, before the GitLab stand-in listened
        '2026-12-01_02:26:52.86038 time="2026-12-01T02:26:52.86023037Z" level=error msg="retryingsink: error writing '
        'events: httpSink{http://127.0.0.1:38719/api/v4/container_registry_event/events}: error posting: Post '
        '\\"http://127.0.0.1:38719/api/v4/container_registry_event/events\\": dial tcp 127.0.0.1:38719: connect: '
        'connection refused, retrying"',
        # Distribution's notifications documentation (TTY format)
        "ERRO[0340] retryingsink: error writing events: httpSink{http://localhost:5003/callback}: error posting: Post "
        "http://localhost:5003/callback: dial tcp 127.0.0.1:5003: connection refused, retrying",
    ],
    "notification-backoff": [
        '2026-12-01_02:26:52.86662 time="2026-12-01T02:26:52.866611577Z" level=warning msg="httpSink{http://127.0.0.1:'
        '38719/api/v4/container_registry_event/events} encountered too many errors, backing off"',
    ],
    "notification-events-lost": [
        'level=warning msg="eventqueue: error writing events to httpSink{https://gitlab.example.com/api/v4/'
        'container_registry_event/events}, these events will be lost: httpSink{https://gitlab.example.com/api/v4/'
        'container_registry_event/events}: error posting: Post \\"https://gitlab.example.com/api/v4/'
        'container_registry_event/events\\": dial tcp: lookup gitlab.example.com: no such host"',
    ],
    "rails-jwt-auth-failed": [
        # GitLab's auth_json.log, fields as JwtController#log_authentication_failed writes them
        # (https://gitlab.com/gitlab-org/gitlab/-/blob/master/app/controllers/jwt_controller.rb); shape built, and the
        # lab's stand-in writes the same
        '{"severity":"WARN","time":"2026-12-01T02:40:11.512Z","correlation_id":"01JDQ0S5ZB7R7V1W2X3Y4Z5A6B",'
        '"message":"JWT authentication failed","http_user":"lab-user","remote_ip":"10.0.0.5",'
        '"auth_service":"container_registry","auth_result.type":null,"auth_result.actor_type":null}',
    ],
    # --- Redis cache (real: the lab's registry 2.8.2, tests/data/logs/redis/) --------------------------------
    "redis-unreachable": [
        '2026-12-01_02:43:45.69585 time="2026-12-01T02:43:45.691712259Z" level=error msg="error connecting to redis '
        'instance 127.0.0.1:41775: dial tcp 127.0.0.1:41775: connect: connection refused" go.version=go1.19.8 '
        'service=registry version=2.8.2+ds1',
    ],
    "redis-auth-failed": [
        '2026-12-01_02:43:32.50027 time="2026-12-01T02:43:32.499294424Z" level=error msg="redis: error connecting: '
        'WRONGPASS invalid username-password pair or user is disabled." go.version=go1.19.8 '
        'redis.connect.duration="670.036\u00b5s" service=registry version=2.8.2+ds1',
    ],
    "rails-jwt-auth-error": [
        '{"method":"GET","path":"/jwt/auth","format":"html","controller":"JwtController","action":"auth",'
        '"status":401,"time":"2026-11-27T15:40:37.123Z","remote_ip":"10.0.0.5","ua":"docker/24.0.7",'
        '"correlation_id":"01HQ3V4ZP7XJ6R1ABCDEF","duration_s":0.05}',
    ],
    # --- issue #15: real-world wordings (sources in tests/data/logs/realworld/README.md) -----------------------
    "upload-copy-unexpected-eof": [
        # registry 2.0.1 (https://github.com/distribution/distribution/issues/775)
        'time="2015-07-28T22:03:29.444091882Z" level=error msg="unknown error copying into upload: unexpected EOF" '
        'environment=development http.request.method=PUT',
        # registry 2.6 behind syslog's tag (https://github.com/goharbor/harbor/issues/5104)
        'registry[22056]: time="2018-06-13T01:41:55.539299541Z" level=error msg="unknown error reading request '
        'payload: unexpected EOF" auth.user.name=admin go.version=go1.7.3 http.request.method=PUT',
    ],
    "s3-clock-skew": [
        SV + 'level=error msg="response completed with error" err.code=unknown err.detail="s3aws: RequestTimeTooSkewed: '
        'The difference between the request time and the current time is too large."',
    ],
    "s3-slow-down": [
        SV + 'level=error msg="response completed with error" err.code=unknown err.detail="s3aws: SlowDown: Please '
        'reduce your request rate.\\n\\tstatus code: 503"',
    ],
    "s3-session-error": [
        # real: Debian's docker-registry 2.8.2 at start-up (tests/data/logs/realworld/lab/registry-s3-panic.log)
        "panic: failed to create new session with aws config: LoadCustomCABundleError: unable to load custom CA "
        "bundle, HTTPClient's transport unsupported type",
    ],
    "registry-panic": [
        "panic: failed to create new session with aws config: LoadCustomCABundleError: unable to load custom CA "
        "bundle, HTTPClient's transport unsupported type",
        "Nov 30 22:43:59 vm registry[661]: panic: Access Denied#012#011status code: 403, request id: 1#012#012"
        "goroutine 1 [running]:",
    ],
    "x509-expired": [
        'Error response from daemon: Get "https://registry.example.com/v2/": x509: certificate has expired or is '
        'not yet valid',
    ],
    "registry-key-invalid": [
        # GitLab production.log (https://gitlab.com/gitlab-org/gitlab-foss/issues/62361)
        "OpenSSL::PKey::RSAError (Neither PUB key nor PRIV key: not enough data):",
    ],
    "rails-registry-ipv6": [
        # GitLab production.log (https://gitlab.com/gitlab-org/omnibus-gitlab/-/issues/3703)
        'Errno::EADDRNOTAVAIL (Failed to open TCP connection to localhost:5000 (Cannot assign requested address - '
        'connect(2) for "localhost" port 5000)): lib/conta',
    ],
    "gc-manifest-eligible": [
        # real: Debian's docker-registry 2.8.2 `garbage-collect --delete-untagged` in the lab (tests/data/gc/)
        "manifest eligible for deletion: sha256:158ce355f1dc20f922ad8e56e43bb8ae77502d62f9dcbec6621d6db7e9c78dd7",
        # Distribution 3's wording (registry/storage/garbagecollect.go, unmarkReferencedManifest: `%s` of ManifestDel)
        "manifest eligible for deletion: {group/project/multi sha256:158ce355f1dc20f922ad8e56e43bb8ae77502d62f9dcbec66"
        "21d6db7e9c78dd7 [latest]}",
        # GitLab's fork, offline GC (registry/storage/garbagecollect.go: WithFields{"digest"}.Info), logfmt
        'time="2026-12-01T02:43:57.4Z" level=info msg="manifest eligible for deletion" digest="sha256:158ce355f1dc20f9'
        '22ad8e56e43bb8ae77502d62f9dcbec6621d6db7e9c78dd7"',
    ],
    "storage-redirect-unreachable": [
        # real: skopeo 1.9.3 pulling from the lab's storage-redirect-unreachable fault (registry 2.8.2 redirect to
        # its in-cluster regionendpoint); the access key ID and the signature replaced
        'time="2026-12-01T02:26:56Z" level=fatal msg="reading blob sha256:2e651483689df5849a2fb6e3af616a996672c1ac'
        'a552721658cce0eae04b2934: Get \\"http://gitlab-minio-svc.gitlab.svc.cluster.local:9000/registry/docker/'
        'registry/v2/blobs/sha256/2e/2e651483689df5849a2fb6e3af616a996672c1aca552721658cce0eae04b2934/data?X-Amz-'
        'Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=LABEXAMPLEKEY%2F20261201%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-'
        'Date=20261201T022656Z&X-Amz-Expires=1200&X-Amz-SignedHeaders=host&X-Amz-Signature=0123456789abcdef\\": '
        'dial tcp: lookup gitlab-minio-svc.gitlab.svc.cluster.local: no such host"',
        # dockerd's retry line (same shape: `Get "<presigned URL>": dial tcp ...`), here an S3 interface endpoint
        'level=error msg="Download failed, retrying: Get \\"https://bucket.vpce-0abc.s3.eu-west-1.vpce.amazonaws.'
        'com/docker/registry/v2/blobs/sha256/aa/aa00/data?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00ff\\": '
        'dial tcp 10.0.3.7:443: i/o timeout"',
    ],
    "storage-url-expired": [
        # S3's answer to a presigned GET after X-Amz-Date + X-Amz-Expires (the shape AWS returns)
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message>'
        '<X-Amz-Expires>1200</X-Amz-Expires><Expires>2026-12-01T02:47:49Z</Expires>'
        '<ServerTime>2026-12-01T02:51:03Z</ServerTime></Error>',
    ],
    "body-too-large-413": [
        # https://github.com/distribution/distribution-library-image/issues/143
        'error parsing HTTP 413 response body: invalid character \'<\' looking for beginning of value: "<html>\\r\\n'
        '<head><title>413 Request Entity Too Large</title></head>\\r\\n"',
        # real: skopeo 1.9.3 through NGINX 1.22 (tests/data/logs/realworld/lab/)
        'time="2026-11-30T22:42:26Z" level=fatal msg="writing blob: uploading layer chunked: StatusCode: 413, '
        '<html>\\r\\n<head><title>413 Request Entity Too Large<..."',
        '2026/11/30 22:42:41 [error] 15918#15918: *11 client intended to send too large body: 8326 bytes, client: '
        '127.0.0.1, server: , request: "PATCH /v2/group/app/blobs/uploads/8cd49d28 HTTP/1.1", host: "127.0.0.1"',
        '127.0.0.1 - - [30/Nov/2026:22:42:26 +0000] "PATCH /v2/group/app/blobs/uploads/6e452ac1 HTTP/1.1" 413 183 '
        '"-" "skopeo/1.9.3"',
    ],
    "client-denied": [
        "denied: requested access to the resource is denied",  # https://github.com/docker/build-push-action/issues/291
        "unauthorized: access to the requested resource is not authorized",  # distribution#985
    ],
    "client-unauthorized": [
        # https://github.com/mr-smithers-excellent/docker-build-push/issues/48
        "Error response from daemon: Get https://theykk.com/v2/: unauthorized: authentication required",
        # kaniko (https://github.com/GoogleContainerTools/kaniko/issues/210)
        'time="2018-06-20T14:42:27Z" level=error msg="UNAUTHORIZED: \\"authentication required\\""',
        # https://gitlab.com/gitlab-org/gitlab/-/issues/2995
        "Error response from daemon: login attempt to https://registry.anuary.com/v2/ failed with status: 401 "
        "Unauthorized",
    ],
    "client-basic-denied": [
        # real: skopeo against the lab's stand-in for GitLab's /jwt/auth
        'time="2026-11-30T22:41:41Z" level=fatal msg="trying to reuse blob sha256:ea14 at destination: unable to '
        'retrieve auth token: invalid username/password: unauthorized: HTTP Basic: Access denied. If a password '
        'was provided for Git authentication, ..."',
        # BuildKit (https://github.com/keikoproj/upgrade-manager/pull/354)
        "ERROR: failed to solve: failed to push master: failed to authorize: failed to fetch oauth token: unexpected "
        "status from GET request to https://auth.docker.io/token?scope=repository%3Alibrary%2Fmaster%3Apull%2Cpush"
        "&service=registry.docker.io: 401 Unauthorized",
    ],
    "client-http-500": [
        "received unexpected HTTP status: 500 Internal Server Error",  # https://github.com/docker/hub-feedback/issues/1761
        "#12 ERROR: unexpected status: 500 Internal Server Error",
    ],
    "client-http-502": [
        "received unexpected HTTP status: 502 Bad Gateway",  # https://gitlab.com/gitlab-org/gitlab-ce/issues/38678
    ],
    "client-http-503": [
        "received unexpected HTTP status: 503 Service Unavailable",
    ],
    "blob-upload-unknown": [
        "blob upload unknown",  # https://github.com/mesudip/nginx-proxy/issues/10
        '{"code":"BLOB_UPLOAD_UNKNOWN","level":"error","method":"PATCH","msg":"response completed with error",'
        '"status":404}',
    ],
    "client-retrying": [
        "d46f9f76f72f: Retrying in 5 seconds",  # https://github.com/docker/hub-feedback/issues/1761
        "d46f9f76f72f: Retrying in 1 second",
        # dockerd through syslog (https://github.com/goharbor/harbor/issues/20405)
        'May 10 10:18:53 master01 dockerd[2526225]: time="2024-05-10T10:18:53.505245247+07:00" level=error '
        'msg="Upload failed, retrying: EOF"',
    ],
}

# fields the first sample of a signature must yield
FIELDS = {
    "token-untrusted-key": {"key_id": "4CC4:VB3L:K3VJ:FUCL:FH4C:23TN:7J7Y:6DUT:J4IY:6HQY:XXDP:QSW3"},
    "token-untrusted-issuer": {"issuer": "evil"},
    "token-wrong-audience": {"audience": "other"},
    "token-expired": {"not_after": "2026-11-27 15:58:38 +0000 UTC", "now": "2026-11-27 16:57:38.156984422"},
    "token-not-yet-valid": {"not_before": "2026-11-27 17:56:38 +0000 UTC"},
    "s3-bad-credentials": {"s3_error": "InvalidAccessKeyId"},
    "s3-wrong-region": {"region": "us-east-1", "expected_region": "eu-west-1"},
    "gcs-http2-error": {"http2_error": "http2: server sent GOAWAY"},
    "tls-handshake-unknown-ca": {"client": "127.0.0.1:38254"},
    "x509-hostname-mismatch": {"valid_for": "gitlab.example.com", "host": "registry.example.com"},
    "nginx-ipv6-upstream-refused": {"upstream": "http://[::1]:5000"},
    "old-docker-client": {"docker_version": "1.6.2"},
    "storage-redirect-unreachable": {"storage_host": "gitlab-minio-svc.gitlab.svc.cluster.local:9000"},
    "missing-registry-key": {"key_path": "/var/opt/gitlab/gitlab-rails/etc/gitlab-registry.key"},
    "rails-jwt-auth-error": {"status": "401"},
    "registry-unknown-error": {
        "detail": "s3aws: RequestTimeout: Your socket connection to the server was not read from"},
}

# lines of healthy traffic that must raise nothing worse than info
HEALTHY = [
    SV + 'time="2026-11-27T16:55:04.257569434Z" level=info msg="authorized request" go.version=go1.19.8 '
    'http.request.method=HEAD http.request.uri="/v2/group/project/app/blobs/sha256:' + "5" * 64 + '" '
    'http.request.useragent=skopeo/1.9.3',
    SV + '127.0.0.1 - - [27/Nov/2026:16:55:04 +0000] "GET /v2/ HTTP/1.1" 401 87 "" "docker/24.0.7 go/go1.20.10"',
    '10.0.0.5 - - [27/Nov/2026:15:41:50 +0000] "GET /v2/a/manifests/5035 HTTP/1.1" 200 5030 "" "docker/1.10.3"',
    '{"level":"info","method":"GET","msg":"access","status":200,"uri":"/v2/a/blobs/sha256:500503502",'
    '"user_agent":"docker/20.10.7"}',
    SV + 'time="2026-11-27T16:55:04.567242898Z" level=info msg="response completed" http.request.method=PUT '
    'http.request.uri=/v2/group/project/app/manifests/latest http.response.status=201 '
    'http.request.contenttype=application/vnd.oci.image.manifest.v1+json',
]


def _matching(line: str) -> set[str]:
    raw = line.encode()
    return {s.id for s in LINE_SIGNATURES if s.search(raw) is not None}


def test_catalogue_ids_are_unique_and_name_known_scenarios():
    ids = [s.id for s in CATALOGUE]
    assert len(ids) == len(set(ids))
    for s in CATALOGUE:
        assert s.scenario in SCENARIOS, f"{s.id} routes to unknown scenario {s.scenario}"
        assert s.severity in ("fail", "warn", "info")
        assert s.anchors and all(s.anchors)
        assert s.meaning.endswith(".")


def test_the_issue_s_signatures_route_to_their_scenarios():
    expect = {
        "token-untrusted-key": "token-untrusted-key", "s3-unexpected-eof": "s3-push-unexpected-eof",
        "s3-access-denied": "s3-permissions", "client-403-empty-body": "push-403",
        "tls-handshake-unknown-ca": "x509-unknown-authority", "x509-unknown-authority": "x509-unknown-authority",
        "nginx-ipv6-upstream-refused": "ipv6-listener", "gcs-http2-error": "gcs-http2",
        "schema1-manifest": "schema1-old-clients", "old-docker-client": "schema1-old-clients",
        "health-check-failed": "debug-server-metrics", "blob-unknown": "triage", "manifest-unknown": "triage",
        "push-retry-loop": "push-retry-relative-urls", "missing-registry-key": "missing-registry-key",
    }
    assert {k: BY_ID[k].scenario for k in expect} == expect
    assert BY_ID["push-retry-loop"].kind == "aggregate"


@pytest.mark.parametrize("sig", LINE_SIGNATURES, ids=lambda s: s.id)
def test_every_signature_has_test_lines_that_match_it(sig):
    assert SAMPLES.get(sig.id), f"no test line for {sig.id}"
    for line in SAMPLES[sig.id]:
        assert sig.id in _matching(line), line


@pytest.mark.parametrize("sig_id", sorted(FIELDS))
def test_signature_extracts_its_fields(sig_id):
    m = BY_ID[sig_id].search(SAMPLES[sig_id][0].encode())
    got = {k.decode() if isinstance(k, bytes) else k: v.decode() for k, v in m.groupdict().items() if v is not None}
    assert {k: got.get(k) for k in FIELDS[sig_id]} == FIELDS[sig_id]


def test_untrusted_key_signature_extracts_the_key_id_from_the_seed_form_too():
    m = BY_ID["token-untrusted-key"].search(SAMPLES["token-untrusted-key"][1].encode())
    assert m.group(b"key_id") == b"TOKE:NL6Q:7PW6:EXAM:PLET:OKEN:BG27:RCIB:D2S3:EXAM:PLET:OKEN"


def test_every_pattern_declares_its_extracted_fields():
    for s in CATALOGUE:
        compiled = s.regex
        names = {k.decode() if isinstance(k, bytes) else k for k in compiled.groupindex}
        assert names == set(s.fields), s.id


def test_anchors_are_implied_by_the_patterns():
    """The literal prefilter never hides a line the regex would match."""
    for sig_id, lines in SAMPLES.items():
        sig = BY_ID[sig_id]
        for line in lines:
            assert any(a in line for a in sig.anchors), (sig_id, line)


def test_healthy_traffic_raises_nothing_worse_than_info():
    for line in HEALTHY:
        bad = {i for i in _matching(line) if BY_ID[i].severity != "info"}
        assert not bad, (line, bad)


def test_only_old_docker_clients_count_as_old():
    sig = BY_ID["old-docker-client"]
    assert sig.search(b'"docker/1.9.1 go/go1.4"')
    assert sig.search(b'"docker/0.11.1"')
    for ua in (b"docker/1.10.3", b"docker/17.06.0-ce", b"docker/24.0.7", b"docker/1.13.1"):
        assert sig.search(ua) is None, ua


def test_ipv6_signature_needs_the_ipv6_upstream():
    line = SAMPLES["nginx-upstream-refused"][0].encode()
    assert BY_ID["nginx-ipv6-upstream-refused"].search(line) is None
    assert BY_ID["nginx-upstream-refused"].search(line)


def test_patterns_stay_in_the_subset_grep_and_re2_read_alike():
    for s in CATALOGUE:
        p = s.pattern.replace("[^", "[")  # a caret that negates a class is fine
        for bad in ("\\d", "\\s", "\\w", "\\b", "(?:", "*?", "+?", "(?=", "(?!", '\\"', "^", "$"):
            assert bad not in p, (s.id, bad)
        assert "[^\\n" in re2_pattern(s.pattern) or "[^" not in s.pattern


@pytest.mark.skipif(not shutil.which("grep"), reason="needs grep")
def test_grep_and_the_scanner_count_the_same_lines(tmp_path):
    lines = [line for ls in SAMPLES.values() for line in ls] + HEALTHY * 3
    log = tmp_path / "mixed.log"
    log.write_text("\n".join(lines) + "\n")
    for s in LINE_SIGNATURES:  # each pattern alone: grep reads it without complaint
        r = subprocess.run(["grep", "-cE", ere_pattern(s.pattern), str(log)], capture_output=True, text=True,
                           env={"LC_ALL": "C"})
        assert r.stderr == "", (s.id, r.stderr)
        assert int(r.stdout) >= len(SAMPLES[s.id]), s.id
    r = subprocess.run(["grep", "-cE", grep_union(), str(log)], capture_output=True, text=True, env={"LC_ALL": "C"})
    assert r.stderr == ""
    scan = scan_logs(log, workers=1)
    assert scan.lines_matched == int(r.stdout)
    assert scan.lines_matched == sum(1 for line in lines if _matching(line))


def test_union_pattern_compiles_for_re2():
    import re2

    from runbooklib.logs.signatures import latin1_options

    re2.compile(re2_pattern(union_pattern()).encode("latin-1"), latin1_options())
