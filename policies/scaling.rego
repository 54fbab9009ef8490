# Crane's shipped scaling policy: the bounds of every replica count. Crane asks it before a manual scale, an apply
# that changes `replicas`, every change the autoscaler decides and every scale an alert asks for.
#
# It answers `decision` = {"allowed": bool, "replicas": n, "reason": "..."}:
#   allowed false    the count must not change at all (`replicas` may be left out); a manual scale is refused with
#                    the reason, the autoscaler holds
#   replicas         the count to set: the one asked for, or that count clamped into the policy's bounds
# See policies/README.md for the input document.
#
# Settings (all optional) come from the policy's data document, data.crane.config.scaling:
#   max_replicas     most replicas of any app (default 20)
#   min_replicas     fewest replicas of any app (default 0)
#   apps             per-app overrides: {"web": {"max_replicas": 50, "min_replicas": 2, "frozen": false}}
#                    a frozen app keeps its replica count until an admin unfreezes it
package crane.scaling

config := object.get(data, ["crane", "config", "scaling"], {})

override := object.get(object.get(config, "apps", {}), input.app, {})

max_replicas := object.get(override, "max_replicas", object.get(config, "max_replicas", 20))

min_replicas := object.get(override, "min_replicas", object.get(config, "min_replicas", 0))

frozen if object.get(override, "frozen", false) == true

bounds := sprintf("%d–%d", [min_replicas, max_replicas])

default decision := {"allowed": false, "reason": "the scaling policy could not decide for this input; check its input document"}

decision := {
	"allowed": false,
	"replicas": input.current,
	"reason": sprintf("app %q is frozen by the scaling policy: it keeps %d replicas until an admin removes `frozen` from its entry in the policy's data", [input.app, input.current]),
} if {
	frozen
	input.requested != input.current
} else := {
	"allowed": true,
	"replicas": max_replicas,
	"reason": sprintf("%d replicas asked for app %q, the scaling policy allows %s: set to %d", [input.requested, input.app, bounds, max_replicas]),
} if {
	input.requested > max_replicas
} else := {
	"allowed": true,
	"replicas": min_replicas,
	"reason": sprintf("%d replicas asked for app %q, the scaling policy allows %s: set to %d", [input.requested, input.app, bounds, min_replicas]),
} if {
	input.requested < min_replicas
} else := {
	"allowed": true,
	"replicas": input.requested,
	"reason": sprintf("%d replicas for app %q are within the scaling policy's bounds (%s)", [input.requested, input.app, bounds]),
}
