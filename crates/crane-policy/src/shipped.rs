//! The policies Crane ships (`policies/` at the repository root), embedded so the engine always has them: each
//! policy's Rego, its unit tests and sample inputs for `cranectl policy eval` and the window's Evaluate box.

use crane_core::policy::PolicyName;

/// One sample input document.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Its file name under `policies/samples/`.
    pub file: &'static str,
    /// The JSON text.
    pub json: &'static str,
}

/// A shipped policy.
#[derive(Debug, Clone, Copy)]
pub struct Shipped {
    /// Which policy.
    pub name: PolicyName,
    /// `policies/<name>.rego`.
    pub rego: &'static str,
    /// `policies/<name>_test.rego`.
    pub tests: &'static str,
    /// Sample inputs; the first is the one doors offer.
    pub samples: &'static [Sample],
}

macro_rules! sample {
    ($file:literal) => {
        Sample { file: $file, json: include_str!(concat!("../../../policies/samples/", $file)) }
    };
}

const ADMISSION: Shipped = Shipped {
    name: PolicyName::Admission,
    rego: include_str!("../../../policies/admission.rego"),
    tests: include_str!("../../../policies/admission_test.rego"),
    samples: &[
        sample!("admission-create.json"),
        sample!("admission-privileged.json"),
        sample!("admission-vulnerable.json"),
    ],
};

const SCALING: Shipped = Shipped {
    name: PolicyName::Scaling,
    rego: include_str!("../../../policies/scaling.rego"),
    tests: include_str!("../../../policies/scaling_test.rego"),
    samples: &[sample!("scaling-manual.json"), sample!("scaling-autoscaler.json")],
};

const ALERTS: Shipped = Shipped {
    name: PolicyName::Alerts,
    rego: include_str!("../../../policies/alerts.rego"),
    tests: include_str!("../../../policies/alerts_test.rego"),
    samples: &[sample!("alerts-firing.json"), sample!("alerts-resolved.json")],
};

/// The shipped version of a policy.
pub fn shipped(name: PolicyName) -> &'static Shipped {
    match name {
        PolicyName::Admission => &ADMISSION,
        PolicyName::Scaling => &SCALING,
        PolicyName::Alerts => &ALERTS,
    }
}
