//! Kubernetes label selectors (`matchLabels` and `matchExpressions`, apimachinery
//! `metav1.LabelSelector`): all requirements must hold; an empty selector selects everything.

use crate::cluster::Labels;

/// One `matchExpressions` requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub match_labels: Labels,
    pub match_expressions: Vec<Requirement>,
}

impl LabelSelector {
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| match r {
                Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
                // NotIn also selects objects without the key (apimachinery `labels.Requirement`).
                Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
                Requirement::Exists(k) => labels.contains_key(k),
                Requirement::DoesNotExist(k) => !labels.contains_key(k),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn requirements_as_apimachinery_reads_them() {
        let s = LabelSelector {
            match_labels: l(&[("app", "web")]),
            match_expressions: vec![Requirement::NotIn("somekey".into(), vec!["never".into()])],
        };
        assert!(
            s.matches(&l(&[("app", "web")])),
            "NotIn holds without the key"
        );
        assert!(!s.matches(&l(&[("app", "web"), ("somekey", "never")])));
        assert!(!s.matches(&l(&[("app", "db")])));
        assert!(
            LabelSelector::default().matches(&l(&[])),
            "empty selects all"
        );
        let e = LabelSelector {
            match_labels: Labels::new(),
            match_expressions: vec![
                Requirement::In("bgp".into(), vec!["blue".into()]),
                Requirement::Exists("tier".into()),
                Requirement::DoesNotExist("skip".into()),
            ],
        };
        assert!(e.matches(&l(&[("bgp", "blue"), ("tier", "x")])));
        assert!(!e.matches(&l(&[("bgp", "red"), ("tier", "x")])));
        assert!(!e.matches(&l(&[("bgp", "blue")])));
        assert!(!e.matches(&l(&[("bgp", "blue"), ("tier", "x"), ("skip", "1")])));
    }
}
