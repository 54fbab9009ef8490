//! The labs Crane ships (`assets/labs/`), embedded in the binary so they work offline and without the source tree.
//! A test checks that every file of `assets/labs/` is embedded here and that every shipped lab parses.

use super::LabFiles;

/// One shipped lab: its folder name and files (relative path, text).
type Shipped = (&'static str, &'static [(&'static str, &'static str)]);

macro_rules! lab {
    ($dir:literal: $($file:literal),+ $(,)?) => {
        ($dir, &[$(($file, include_str!(concat!("../../../../assets/labs/", $dir, "/", $file)))),+])
    };
}

/// Every shipped lab's folder and files, in the order `lab list` shows them.
pub(crate) const SHIPPED: &[Shipped] = &[
    lab!("self-healing": "apps/heal-web.yaml", "lab.yaml", "steps/01-meet.md", "steps/02-kill.md", "steps/03-scale.md"),
    lab!("scaling-under-load": "alerts/lab.rules.yml", "apps/scale-web.yaml", "lab.yaml", "steps/01-load.md", "steps/02-autoscale.md", "steps/03-alert.md"),
    lab!("rolling-update-rollback": "apps/roll-web.yaml", "lab.yaml", "steps/01-healthy.md", "steps/02-broken.md"),
    lab!("policy-blocks-bad-deploy": "apps/policy-web.yaml", "lab.yaml", "policies/admission.json", "steps/01-allowed.md", "steps/02-denied.md", "steps/03-fixed.md"),
];

/// The shipped labs' files, by folder name, in the order `lab list` shows them. The files are within every bound
/// (a test checks it), so building them cannot fail.
pub fn shipped() -> Vec<(&'static str, LabFiles)> {
    SHIPPED
        .iter()
        .map(|(dir, files)| {
            let mut lab = LabFiles::new();
            for (path, text) in files.iter() {
                // Within bounds by the test below; a failure would only drop the file, and the lab's parse says so.
                let _ = lab.insert(path, text.as_bytes().to_vec());
            }
            (*dir, lab)
        })
        .collect()
}
