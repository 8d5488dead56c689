"""HTTP(S) probes of the registry, its token realm and its debug server. Each check returns Findings."""
