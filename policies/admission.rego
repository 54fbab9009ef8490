# Crane's shipped admission policy. Crane asks it before every create, update, scale and undo, from every door.
#
# It sits on top of Crane's built-in safety floor, which runs first and cannot be turned off by a policy: a policy
# can refuse more than the floor, never less. Conventions, the input document and the data it reads are described
# in policies/README.md.
#
# Settings (all optional) come from the policy's data document, data.crane.config.admission:
#   host_path_allow       host directories a spec may bind-mount, e.g. ["/srv/www"] (default: the engine's
#                         hostPathAllow setting, input.settings.host_path_allow)
#   allowed_capabilities  capabilities `security.addCapabilities` may name (default: Crane's safe list)
#   allow_privileged      true lets `security.privileged` through this policy (default false; the safety floor
#                         still refuses it unless the engine setting allow_unsafe is on)
#   allowed_images        images a spec may use: a repository such as "crane-demo", or a prefix ending in "*"
#                         such as "registry.local/*" (default: [], any image)
#   scan                  the deploy gate over the image scan Crane runs before an image first runs
#                         (input.scan), an object:
#     deny_severity       the lowest severity that denies: "CRITICAL" (default), "HIGH", "MEDIUM", "LOW",
#                         "UNKNOWN" (every finding), or "NONE" (the gate is off)
#     require_fix         true (default): only findings with a fixed version deny (the app can be fixed by
#                         upgrading); false: findings without a fix deny too
#     deny_unscanned      true: deny when the image could not be scanned (status "failed" or "unavailable");
#                         default false (an image not yet pulled is never denied for it)
#     ignore              advisory ids or CVE aliases never to deny on, e.g. ["DSA-3035-1"] (default [])
package crane.admission

config := object.get(data, ["crane", "config", "admission"], {})

defaults := object.get(data, ["crane", "defaults"], {})

host_path_allow := object.get(config, "host_path_allow", object.get(input, ["settings", "host_path_allow"], []))

allowed_capabilities := object.get(config, "allowed_capabilities", object.get(defaults, "allowed_capabilities", []))

allowed_images := object.get(config, "allowed_images", [])

allow_privileged := object.get(config, "allow_privileged", false)

default_memory := object.get(defaults, "memory", "512Mi")

spec := object.get(input, "spec", {})

security := object.get(spec, "security", {})

# --- deny -----------------------------------------------------------------------------------------------------------

deny contains msg if {
	security.privileged == true
	allow_privileged != true
	msg := "privileged containers are not allowed: remove `security.privileged: true`; if the app needs one capability, add it with `security.addCapabilities`"
}

deny contains msg if {
	some i, volume in object.get(spec, "volumes", [])
	startswith(volume.source, "/")
	not host_path_allowed(volume.source)
	msg := sprintf("volumes[%d]: host path %q is not allowed: use a named volume such as `data`, or ask an admin to add the directory to host_path_allow in the admission policy's data", [i, volume.source])
}

deny contains msg if {
	some capability in object.get(security, "addCapabilities", [])
	not canonical(capability) in allowed_capabilities
	msg := sprintf("capability %q is not allowed: remove it from `security.addCapabilities`; the capabilities a spec may add are %s", [capability, concat(", ", allowed_capabilities)])
}

deny contains msg if {
	count(allowed_images) > 0
	not image_allowed
	msg := sprintf("image %q is not on the allowed list: use an image from %s, or ask an admin to add it to allowed_images in the admission policy's data", [spec.image, concat(", ", allowed_images)])
}

deny contains msg if {
	some f in blocking_findings
	is_string(f.fixed)
	msg := sprintf("image %q has %s vulnerability %s in package %s %s: upgrade %s to %s or later (rebuild the image on an updated base), or ask an admin to add %s to scan.ignore or raise scan.deny_severity in the admission policy's data", [spec.image, f.severity, f.id, f.package, f.installed, f.package, f.fixed, f.id])
}

deny contains msg if {
	some f in blocking_findings
	not is_string(f.fixed)
	msg := sprintf("image %q has %s vulnerability %s in package %s %s, with no fixed version yet: remove the package from the image, or ask an admin to add %s to scan.ignore in the admission policy's data", [spec.image, f.severity, f.id, f.package, f.installed, f.id])
}

deny contains msg if {
	input.action != "scale"
	object.get(scan_config, "deny_unscanned", false) == true
	scan.status in {"failed", "unavailable"}
	msg := sprintf("image %q could not be scanned (%s) and the policy requires a scan: fix the cause, or ask an admin to set scan.deny_unscanned to false", [spec.image, object.get(scan, "reason", scan.status)])
}

# --- image scan (the deploy gate) ---------------------------------------------------------------------------------

scan := object.get(input, "scan", {})

scan_config := object.get(config, "scan", {})

severity_rank := {"UNKNOWN": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}

deny_severity := upper(object.get(scan_config, "deny_severity", "CRITICAL"))

require_fix := object.get(scan_config, "require_fix", true)

ignored := {id | some id in object.get(scan_config, "ignore", [])}

# The findings that deny: at or above the threshold, fixable (unless require_fix is off), not ignored.
blocking_findings contains f if {
	input.action != "scale"
	scan.status == "scanned"
	deny_severity != "NONE"
	some f in scan.findings
	severity_rank[f.severity] >= severity_rank[deny_severity]
	fix_counts(f)
	not ignored[f.id]
	not ignored_alias(f)
}

fix_counts(f) if require_fix == false

fix_counts(f) if is_string(f.fixed)

ignored_alias(f) if {
	some alias in object.get(f, "aliases", [])
	ignored[alias]
}

# A host path is allowed when it is a listed directory or lies under one, written without `..`.
host_path_allowed(path) if {
	not contains(path, "..")
	some allowed in host_path_allow
	under(path, allowed)
}

under(path, dir) if path == dir

under(path, dir) if startswith(path, concat("", [trim_right(dir, "/"), "/"]))

# `cap_net_admin` and `NET_ADMIN` name the same capability.
canonical(capability) := trim_prefix(upper(capability), "CAP_")

image_allowed if {
	some allowed in allowed_images
	endswith(allowed, "*")
	startswith(spec.image, trim_suffix(allowed, "*"))
}

image_allowed if {
	some allowed in allowed_images
	repository == allowed
}

# --- warn -----------------------------------------------------------------------------------------------------------
# Warnings are for changes of the containers; a scale is not warned about again.

warn contains msg if {
	input.action != "scale"
	not has_digest
	image_tag == "latest"
	msg := sprintf("image %q uses the `latest` tag, which changes under you: pin a version such as %s:1.2.3", [spec.image, repository])
}

warn contains msg if {
	input.action != "scale"
	not has_digest
	not image_tag
	msg := sprintf("image %q has no tag, so Docker takes `latest`: pin a version such as %s:1.2.3", [spec.image, repository])
}

warn contains msg if {
	input.action != "scale"
	runs_as_root
	msg := "the app runs as root (no `security.user`, or user 0): set `security.user` to a non-root user such as \"1000\" if the image supports it"
}

warn contains msg if {
	input.action != "scale"
	not spec.resources.memory
	msg := sprintf("no memory limit is set, so Crane's default of %s applies: set `resources.memory` (e.g. 256Mi) to what the app needs", [default_memory])
}

warn contains msg if {
	input.action != "scale"
	scan.status == "scanned"
	count(blocking_findings) == 0
	scan.counts.fixable > 0
	msg := sprintf("image %q has %d vulnerabilities with a fixed version (%d critical, %d high): see `cranectl scan %s`", [spec.image, scan.counts.fixable, scan.counts.critical, scan.counts.high, spec.image])
}

runs_as_root if not security.user

runs_as_root if {
	user := split(security.user, ":")[0]
	user in {"0", "root"}
}

# --- image reference --------------------------------------------------------------------------------------------------

has_digest if contains(spec.image, "@")

# The image without a digest: `registry:5000/team/app:1.0`.
image_name := split(spec.image, "@")[0]

# The last path component carries the tag (a registry's port is in the first one).
last_component := c if {
	parts := split(image_name, "/")
	c := parts[count(parts) - 1]
}

image_tag := t if {
	contains(last_component, ":")
	parts := split(last_component, ":")
	t := parts[count(parts) - 1]
}

repository := trim_suffix(image_name, concat("", [":", image_tag])) if image_tag

else := image_name
