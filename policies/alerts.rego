# Crane's shipped alerts policy: what an alert makes Crane do. Crane asks it for each alert (each with its own
# status, firing or resolved) and carries the action out through the engine, bounded by the scaling policy.
#
# It answers `decision` = {"action": "...", "reason": "...", "step": n, "cooldown": "2m"} where action is one of
# scale_up, scale_down, restart, rollback, stop, notify, none; `step` (replicas added or removed, 1–10) and
# `cooldown` (how long the same action for the same app waits after this one) are optional.
# See policies/README.md for the input document.
#
# Settings (all optional) come from the policy's data document, data.crane.config.alerts:
#   scale_up         alerts that add replicas while firing and remove them once resolved
#                    (default ["HighRequestRate", "HighCpu", "HighLatency"])
#   restart          alerts that restart the app while firing (default ["InstanceDown"])
#   rollback         alerts that return the app to its previous revision while firing (default ["HighErrorRate"])
#   step             replicas added or removed per alert (default 1)
#   cooldown_s       seconds before the same action is taken again for the same app (default 120)
package crane.alerts

config := object.get(data, ["crane", "config", "alerts"], {})

scale_up_alerts := object.get(config, "scale_up", ["HighRequestRate", "HighCpu", "HighLatency"])

restart_alerts := object.get(config, "restart", ["InstanceDown"])

rollback_alerts := object.get(config, "rollback", ["HighErrorRate"])

step := object.get(config, "step", 1)

cooldown_s := object.get(config, "cooldown_s", 120)

cooldown := sprintf("%ds", [cooldown_s])

# The same action for the same app was taken within the cooldown.
cooling(action) if {
	some recent in input.recent_actions
	recent.action == action
	recent.seconds_ago < cooldown_s
}

firing if input.status == "firing"

resolved if input.status == "resolved"

has_app if {
	is_string(input.app)
	input.app != ""
}

default decision := {"action": "notify", "reason": "the alerts policy has no rule for this alert; it is only recorded"}

decision := {
	"action": "notify",
	"reason": sprintf("alert %s names no app (no `app` label): recorded only", [input.alert]),
} if {
	not has_app
} else := {
	"action": "none",
	"reason": sprintf("alert %s asks to %s app %q, but it did so less than %s ago: cooling down", [input.alert, verb, input.app, cooldown]),
} if {
	cooling(wanted)
} else := {
	"action": "scale_up",
	"reason": sprintf("alert %s fires for app %q: add %d replica(s)", [input.alert, input.app, step]),
	"step": step,
	"cooldown": cooldown,
} if {
	firing
	input.alert in scale_up_alerts
} else := {
	"action": "scale_down",
	"reason": sprintf("alert %s resolved for app %q: remove the %d replica(s) it added", [input.alert, input.app, step]),
	"step": step,
	"cooldown": cooldown,
} if {
	resolved
	input.alert in scale_up_alerts
} else := {
	"action": "restart",
	"reason": sprintf("alert %s fires for app %q: restart its instances", [input.alert, input.app]),
	"cooldown": cooldown,
} if {
	firing
	input.alert in restart_alerts
} else := {
	"action": "rollback",
	"reason": sprintf("alert %s fires for app %q: return to the previous revision", [input.alert, input.app]),
	"cooldown": cooldown,
} if {
	firing
	input.alert in rollback_alerts
} else := {
	"action": "none",
	"reason": sprintf("alert %s resolved for app %q: nothing to undo", [input.alert, input.app]),
} if {
	resolved
	known(input.alert)
} else := {
	"action": "notify",
	"reason": sprintf("alert %s (%s, severity %q) for app %q has no action in the alerts policy: recorded only", [input.alert, input.status, input.severity, input.app]),
}

known(alert) if alert in scale_up_alerts

known(alert) if alert in restart_alerts

known(alert) if alert in rollback_alerts

# The action this alert would take without a cooldown, for the cooldown check.
wanted := "scale_up" if {
	firing
	input.alert in scale_up_alerts
} else := "scale_down" if {
	resolved
	input.alert in scale_up_alerts
} else := "restart" if {
	firing
	input.alert in restart_alerts
} else := "rollback" if {
	firing
	input.alert in rollback_alerts
}

verb := replace(wanted, "_", " ")
