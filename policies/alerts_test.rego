# Unit tests of the shipped alerts policy.
package crane.alerts_test

import data.crane.alerts

alert(name, status) := {
	"alert": name,
	"labels": {"alertname": name, "app": "web", "severity": "warning"},
	"severity": "warning",
	"status": status,
	"app": "web",
	"replicas": 2,
	"recent_actions": [],
}

test_high_request_rate_firing_scales_up if {
	inp := alert("HighRequestRate", "firing")
	d := alerts.decision with input as inp
	d.action == "scale_up"
	d.step == 1
	d.cooldown == "120s"
}

test_high_cpu_resolved_scales_down if {
	inp := alert("HighCpu", "resolved")
	d := alerts.decision with input as inp
	d.action == "scale_down"
}

test_instance_down_restarts if {
	inp := alert("InstanceDown", "firing")
	d := alerts.decision with input as inp
	d.action == "restart"
}

test_high_error_rate_rolls_back if {
	inp := alert("HighErrorRate", "firing")
	d := alerts.decision with input as inp
	d.action == "rollback"
}

test_unknown_alert_notifies if {
	inp := alert("DiskAlmostFull", "firing")
	d := alerts.decision with input as inp
	d.action == "notify"
	contains(d.reason, "DiskAlmostFull")
}

test_alert_without_app_notifies if {
	inp := object.union(alert("HighCpu", "firing"), {"app": null})
	d := alerts.decision with input as inp
	d.action == "notify"
}

test_cooldown_holds_a_repeated_scale_up if {
	inp := object.union(alert("HighCpu", "firing"), {"recent_actions": [{"action": "scale_up", "alert": "HighCpu", "seconds_ago": 30}]})
	d := alerts.decision with input as inp
	d.action == "none"
	contains(d.reason, "cooling down")
}

test_cooldown_expires if {
	inp := object.union(alert("HighCpu", "firing"), {"recent_actions": [{"action": "scale_up", "alert": "HighCpu", "seconds_ago": 300}]})
	d := alerts.decision with input as inp
	d.action == "scale_up"
}

test_settings_come_from_data if {
	inp := alert("QueueBacklog", "firing")
	d := alerts.decision with input as inp with data.crane.config.alerts as {"scale_up": ["QueueBacklog"], "step": 3}
	d.action == "scale_up"
	d.step == 3
}
