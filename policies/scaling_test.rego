# Unit tests of the shipped scaling policy.
package crane.scaling_test

import data.crane.scaling

ask(source, current, requested) := {
	"app": "web",
	"source": source,
	"current": current,
	"requested": requested,
	"autoscaling": null,
	"user": "admin",
	"door": "rest",
}

test_within_bounds_is_allowed_as_asked if {
	inp := ask("manual", 1, 3)
	scaling.decision == {"allowed": true, "replicas": 3, "reason": "3 replicas for app \"web\" are within the scaling policy's bounds (0–20)"} with input as inp
}

test_above_the_maximum_is_clamped if {
	inp := ask("manual", 1, 50)
	d := scaling.decision with input as inp
	d.allowed
	d.replicas == 20
	contains(d.reason, "set to 20")
}

test_autoscaler_is_clamped_by_a_per_app_override if {
	inp := ask("autoscaler", 4, 9)
	d := scaling.decision with input as inp with data.crane.config.scaling as {"apps": {"web": {"max_replicas": 5}}}
	d.replicas == 5
}

test_override_of_another_app_does_not_apply if {
	inp := ask("manual", 4, 30)
	d := scaling.decision with input as inp with data.crane.config.scaling as {"max_replicas": 40, "apps": {"db": {"max_replicas": 1}}}
	d.replicas == 30
}

test_below_the_minimum_is_raised if {
	inp := ask("manual", 3, 0)
	d := scaling.decision with input as inp with data.crane.config.scaling as {"min_replicas": 1}
	d.replicas == 1
}

test_frozen_app_is_refused if {
	inp := ask("manual", 2, 5)
	d := scaling.decision with input as inp with data.crane.config.scaling as {"apps": {"web": {"frozen": true}}}
	not d.allowed
	d.replicas == 2
	contains(d.reason, "frozen")
}
