# Unit tests of the shipped admission policy (`cranectl policy test`, and `make test`).
package crane.admission_test

import data.crane.admission

clean := {
	"name": "web",
	"image": "crane-demo:0.1.0",
	"replicas": 2,
	"resources": {"memory": "128Mi"},
	"security": {"user": "1000"},
}

create(spec) := {"action": "create", "spec": spec, "current": null, "user": "admin", "door": "cli"}

test_clean_spec_is_admitted_without_warnings if {
	count(admission.deny) == 0 with input as create(clean)
	count(admission.warn) == 0 with input as create(clean)
}

test_privileged_is_denied if {
	spec := object.union(clean, {"security": {"user": "1000", "privileged": true}})
	some msg in admission.deny with input as create(spec)
	startswith(msg, "privileged containers are not allowed")
}

test_privileged_can_be_allowed_in_data if {
	spec := object.union(clean, {"security": {"user": "1000", "privileged": true}})
	count(admission.deny) == 0 with input as create(spec) with data.crane.config.admission as {"allow_privileged": true}
}

test_host_path_is_denied if {
	spec := object.union(clean, {"volumes": [{"source": "/srv/www", "target": "/www"}]})
	some msg in admission.deny with input as create(spec)
	startswith(msg, "volumes[0]: host path \"/srv/www\" is not allowed")
}

test_host_path_on_the_allow_list_is_admitted if {
	spec := object.union(clean, {"volumes": [{"source": "/srv/www/site", "target": "/www", "readOnly": true}]})
	count(admission.deny) == 0 with input as create(spec)
		with data.crane.config.admission as {"host_path_allow": ["/srv/www/"]}
}

test_host_path_escaping_the_allow_list_is_denied if {
	spec := object.union(clean, {"volumes": [{"source": "/srv/www/../../etc", "target": "/x"}]})
	count(admission.deny) == 1 with input as create(spec)
		with data.crane.config.admission as {"host_path_allow": ["/srv/www"]}
}

test_named_volume_is_admitted if {
	spec := object.union(clean, {"volumes": [{"source": "data", "target": "/data"}]})
	count(admission.deny) == 0 with input as create(spec)
}

test_capability_outside_the_allow_list_is_denied if {
	spec := object.union(clean, {"security": {"user": "1000", "addCapabilities": ["NET_ADMIN"]}})
	some msg in admission.deny with input as create(spec)
	startswith(msg, "capability \"NET_ADMIN\" is not allowed")
}

test_capability_on_the_allow_list_is_admitted if {
	spec := object.union(clean, {"security": {"user": "1000", "addCapabilities": ["cap_net_bind_service"]}})
	count(admission.deny) == 0 with input as create(spec)
}

test_images_outside_the_allow_list_are_denied if {
	allowed := {"allowed_images": ["crane-demo", "registry.local/*"]}
	count(admission.deny) == 0 with input as create(clean) with data.crane.config.admission as allowed
	ours := object.union(clean, {"image": "registry.local/team/app:2"})
	count(admission.deny) == 0 with input as create(ours) with data.crane.config.admission as allowed
	theirs := object.union(clean, {"image": "nginx:1.27"})
	some msg in admission.deny with input as create(theirs) with data.crane.config.admission as allowed
	startswith(msg, "image \"nginx:1.27\" is not on the allowed list")
}

test_latest_and_missing_tags_warn if {
	latest := object.union(clean, {"image": "nginx:latest"})
	some a in admission.warn with input as create(latest)
	contains(a, "uses the `latest` tag")
	bare := object.union(clean, {"image": "registry:5000/nginx"})
	some b in admission.warn with input as create(bare)
	contains(b, "has no tag")
	contains(b, "registry:5000/nginx:1.2.3")
	pinned := object.union(clean, {"image": "nginx@sha256:0123"})
	count(admission.warn) == 0 with input as create(pinned)
}

test_root_warns if {
	spec := object.remove(clean, ["security"])
	some msg in admission.warn with input as create(spec)
	contains(msg, "runs as root")
	as_zero := object.union(clean, {"security": {"user": "0:0"}})
	some zero in admission.warn with input as create(as_zero)
	contains(zero, "runs as root")
}

test_missing_memory_limit_warns_with_the_default if {
	spec := object.remove(clean, ["resources"])
	some msg in admission.warn with input as create(spec) with data.crane.defaults.memory as "512Mi"
	contains(msg, "Crane's default of 512Mi applies")
}

test_scale_is_not_warned_about if {
	spec := object.remove(clean, ["resources", "security"])
	count(admission.warn) == 0 with input as {"action": "scale", "spec": spec, "current": spec, "user": "admin", "door": "rest"}
}

# --- the deploy gate over the image scan ----------------------------------------------------------------------------

finding(id, severity, fixed) := {"id": id, "aliases": [], "package": "bash", "ecosystem": "Debian",
	"installed": "4.2+dfsg-0.1", "fixed": fixed, "severity": severity, "score": null}

scanned(spec, findings) := object.union(create(spec), {"scan": {"status": "scanned", "findings": findings,
	"counts": {"critical": 0, "high": 0, "medium": 0, "low": 0, "unknown": 0, "fixable": count(findings)}}})

test_critical_finding_with_a_fix_is_denied_naming_package_and_fix if {
	input_doc := scanned(clean, [finding("DSA-3032-1", "CRITICAL", "4.2+dfsg-0.1+deb7u1")])
	some msg in admission.deny with input as input_doc
	contains(msg, "CRITICAL vulnerability DSA-3032-1 in package bash 4.2+dfsg-0.1")
	contains(msg, "upgrade bash to 4.2+dfsg-0.1+deb7u1 or later")
}

test_high_finding_is_admitted_by_default_with_a_warning if {
	input_doc := scanned(clean, [finding("DSA-2896-1", "HIGH", "1.0.1e-2+deb7u5")])
	count(admission.deny) == 0 with input as input_doc
	some msg in admission.warn with input as input_doc
	contains(msg, "vulnerabilities with a fixed version")
}

test_threshold_high_denies_high if {
	input_doc := scanned(clean, [finding("DSA-2896-1", "HIGH", "1.0.1e-2+deb7u5")])
	count(admission.deny) == 1 with input as input_doc
		with data.crane.config.admission as {"scan": {"deny_severity": "high"}}
}

test_critical_without_a_fix_is_admitted_unless_require_fix_is_off if {
	input_doc := scanned(clean, [finding("CVE-X", "CRITICAL", null)])
	count(admission.deny) == 0 with input as input_doc
	some msg in admission.deny with input as input_doc with data.crane.config.admission as {"scan": {"require_fix": false}}
	contains(msg, "with no fixed version yet")
}

test_gate_off_and_ignore_list if {
	input_doc := scanned(clean, [finding("DSA-3032-1", "CRITICAL", "4.2+dfsg-0.1+deb7u1")])
	count(admission.deny) == 0 with input as input_doc with data.crane.config.admission as {"scan": {"deny_severity": "NONE"}}
	count(admission.deny) == 0 with input as input_doc with data.crane.config.admission as {"scan": {"ignore": ["DSA-3032-1"]}}
}

test_scale_is_not_gated if {
	input_doc := object.union(scanned(clean, [finding("DSA-3032-1", "CRITICAL", "x")]), {"action": "scale"})
	count(admission.deny) == 0 with input as input_doc
}

test_unscanned_image_is_admitted_unless_required if {
	input_doc := object.union(create(clean), {"scan": {"status": "failed", "reason": "damaged layer"}})
	count(admission.deny) == 0 with input as input_doc
	some msg in admission.deny with input as input_doc with data.crane.config.admission as {"scan": {"deny_unscanned": true}}
	contains(msg, "could not be scanned (damaged layer)")
	not_local := object.union(create(clean), {"scan": {"status": "not_local"}})
	count(admission.deny) == 0 with input as not_local with data.crane.config.admission as {"scan": {"deny_unscanned": true}}
}
