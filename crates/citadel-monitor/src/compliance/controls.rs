//! Which SOC 2, HIPAA and GDPR controls each report section supports as evidence. Conservative
//! on purpose: a section is listed under a control only where its facts are evidence an auditor
//! would accept for part of that control, never as proof the control is met.

use serde::Serialize;

use super::SectionId;

/// What the mapping means, printed with it in every format.
pub const CONTROLS_NOTE: &str = "Each item supports the listed controls as evidence; none of \
     them satisfies a control by itself. SOC 2 refers to the 2017 Trust Services Criteria (revised \
     points of focus, 2022), HIPAA to the Security and Privacy Rules (45 CFR Part 164), GDPR to \
     Regulation (EU) 2016/679. A dash means the item is not evidence for that framework.";

/// The controls one section supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Controls {
    pub soc2: &'static [&'static str],
    pub hipaa: &'static [&'static str],
    pub gdpr: &'static [&'static str],
}

/// The controls `section` supports.
pub(super) fn for_section(section: SectionId) -> Controls {
    let (soc2, hipaa, gdpr): (&[&str], &[&str], &[&str]) = match section {
        SectionId::Encryption => (
            &["CC6.1", "C1.1"],
            &["164.312(a)(2)(iv)"],
            &["Art. 5(1)(f)", "Art. 32(1)(a)"],
        ),
        SectionId::Keys => (&["CC6.1"], &["164.312(a)(2)(iv)"], &["Art. 32(1)(a)"]),
        SectionId::Models => (&["CC8.1"], &[], &[]),
        SectionId::Approvals => (&["CC6.3", "CC8.1"], &["164.308(a)(4)(ii)(B)"], &[]),
        SectionId::Endpoints => (&["CC8.1", "CC6.8"], &[], &["Art. 32(1)(b)"]),
        SectionId::SecretReads => (
            &["CC6.1", "CC7.2"],
            &["164.312(b)", "164.308(a)(1)(ii)(D)"],
            &["Art. 32(1)(b)"],
        ),
        SectionId::Authentication => (
            &["CC6.1", "CC7.2"],
            &["164.308(a)(5)(ii)(C)", "164.312(d)", "164.308(a)(1)(ii)(D)"],
            &["Art. 32(1)(b)", "Art. 33"],
        ),
        SectionId::Alerts => (
            &["CC7.2", "CC7.3", "CC7.4"],
            &["164.308(a)(6)(ii)"],
            &["Art. 33"],
        ),
        SectionId::Datasets => (
            &["C1.1", "CC6.1"],
            &["164.502(b)", "164.514(b)"],
            &["Art. 5(1)(c)", "Art. 25", "Art. 30"],
        ),
        SectionId::Retention => (&["C1.2"], &[], &["Art. 5(1)(e)", "Art. 17"]),
        SectionId::AuditLog => (
            &["CC7.2", "CC4.1"],
            &["164.312(b)"],
            &["Art. 5(2)", "Art. 30", "Art. 32(1)(d)"],
        ),
    };
    Controls { soc2, hipaa, gdpr }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_supports_some_soc2_criterion() {
        for id in SectionId::ALL {
            assert!(
                !for_section(id).soc2.is_empty(),
                "{id:?} has no SOC 2 criterion"
            );
        }
    }

    #[test]
    fn controls_are_written_in_each_frameworks_own_notation() {
        for id in SectionId::ALL {
            let controls = for_section(id);
            for c in controls.soc2 {
                assert!(
                    c.starts_with("CC") || c.starts_with("C1."),
                    "{id:?}: SOC 2 {c}"
                );
            }
            for c in controls.hipaa {
                assert!(c.starts_with("164."), "{id:?}: HIPAA {c}");
            }
            for c in controls.gdpr {
                assert!(c.starts_with("Art. "), "{id:?}: GDPR {c}");
            }
        }
    }
}
