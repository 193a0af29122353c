//! Calico's selector expressions (BGPPeer `nodeSelector`, IPPool `nodeSelector`):
//! `all()`, `k == 'v'`, `k != 'v'`, `has(k)`, `k in {'a', 'b'}`, `k not in {…}`,
//! `k contains 's'`, `k starts with 's'`, `k ends with 's'`, `!`, `&&`, `||`, parentheses
//! (projectcalico/calico `libcalico-go/lib/selector/parser`; `&&` binds tighter than `||`).
//! A missing label never equals a value and always differs from it (`k != 'v'` holds).

use crate::cluster::Labels;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    All,
    Eq(String, String),
    Ne(String, String),
    Has(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Contains(String, String),
    StartsWith(String, String),
    EndsWith(String, String),
    Not(Box<Selector>),
    And(Box<Selector>, Box<Selector>),
    Or(Box<Selector>, Box<Selector>),
}

/// Why a Calico selector could not be read (positions count from 1).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("unexpected `{rest}` at position {at} of selector `{selector}`")]
    Unexpected {
        rest: String,
        at: usize,
        selector: String,
    },
    #[error("a `(` without its `)`")]
    UnclosedParen,
    #[error("`has({0}` without its `)`")]
    UnclosedHas(String),
    #[error("after label `{0}` expected ==, !=, in, not in, contains, starts with or ends with")]
    NoOperator(String),
    #[error("expected a label name at position {0}")]
    NoLabel(usize),
    #[error("expected a quoted value at position {0}")]
    NoValue(usize),
    #[error("a quoted value without its closing quote")]
    UnclosedQuote,
    #[error("expected `{{` after in")]
    NoSet,
    #[error("expected `,` or `}}` in a set")]
    BadSet,
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        if text.trim().is_empty() {
            // An empty selector selects everything (Calico's default for BGPPeer nodeSelector).
            return Ok(Selector::All);
        }
        let e = p.or()?;
        p.ws();
        if p.i < p.s.len() {
            return Err(SelectorError::Unexpected {
                rest: text[p.i..].into(),
                at: p.i + 1,
                selector: text.into(),
            });
        }
        Ok(e)
    }

    pub fn matches(&self, l: &Labels) -> bool {
        let get = |k: &String| l.get(k);
        match self {
            Selector::All => true,
            Selector::Eq(k, v) => get(k) == Some(v),
            Selector::Ne(k, v) => get(k) != Some(v),
            Selector::Has(k) => l.contains_key(k),
            Selector::In(k, vs) => get(k).is_some_and(|v| vs.contains(v)),
            Selector::NotIn(k, vs) => get(k).is_none_or(|v| !vs.contains(v)),
            Selector::Contains(k, s) => get(k).is_some_and(|v| v.contains(s.as_str())),
            Selector::StartsWith(k, s) => get(k).is_some_and(|v| v.starts_with(s.as_str())),
            Selector::EndsWith(k, s) => get(k).is_some_and(|v| v.ends_with(s.as_str())),
            Selector::Not(e) => !e.matches(l),
            Selector::And(a, b) => a.matches(l) && b.matches(l),
            Selector::Or(a, b) => a.matches(l) || b.matches(l),
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.s[self.i..].starts_with(tok.as_bytes()) {
            self.i += tok.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Selector, SelectorError> {
        let mut e = self.and()?;
        while self.eat("||") {
            e = Selector::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Selector, SelectorError> {
        let mut e = self.unary()?;
        while self.eat("&&") {
            e = Selector::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Selector, SelectorError> {
        if self.eat("!") {
            return Ok(Selector::Not(Box::new(self.unary()?)));
        }
        if self.eat("(") {
            let e = self.or()?;
            if !self.eat(")") {
                return Err(SelectorError::UnclosedParen);
            }
            return Ok(e);
        }
        if self.eat("all()") {
            return Ok(Selector::All);
        }
        if self.eat("has(") {
            let k = self.label()?;
            if !self.eat(")") {
                return Err(SelectorError::UnclosedHas(k));
            }
            return Ok(Selector::Has(k));
        }
        let k = self.label()?;
        if self.eat("==") {
            return Ok(Selector::Eq(k, self.string()?));
        }
        if self.eat("!=") {
            return Ok(Selector::Ne(k, self.string()?));
        }
        if self.eat("not in") {
            return Ok(Selector::NotIn(k, self.set()?));
        }
        if self.eat("in") {
            return Ok(Selector::In(k, self.set()?));
        }
        if self.eat("contains") {
            return Ok(Selector::Contains(k, self.string()?));
        }
        if self.eat("starts with") {
            return Ok(Selector::StartsWith(k, self.string()?));
        }
        if self.eat("ends with") {
            return Ok(Selector::EndsWith(k, self.string()?));
        }
        Err(SelectorError::NoOperator(k))
    }

    fn label(&mut self) -> Result<String, SelectorError> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || b"_./-".contains(&self.s[self.i]))
        {
            self.i += 1;
        }
        if self.i == start {
            return Err(SelectorError::NoLabel(start + 1));
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn string(&mut self) -> Result<String, SelectorError> {
        self.ws();
        let Some(&q) = self.s.get(self.i).filter(|c| **c == b'\'' || **c == b'"') else {
            return Err(SelectorError::NoValue(self.i + 1));
        };
        let start = self.i + 1;
        let Some(len) = self.s[start..].iter().position(|c| *c == q) else {
            return Err(SelectorError::UnclosedQuote);
        };
        self.i = start + len + 1;
        Ok(String::from_utf8_lossy(&self.s[start..start + len]).into_owned())
    }

    fn set(&mut self) -> Result<Vec<String>, SelectorError> {
        if !self.eat("{") {
            return Err(SelectorError::NoSet);
        }
        let mut out = Vec::new();
        if self.eat("}") {
            return Ok(out);
        }
        loop {
            out.push(self.string()?);
            if self.eat("}") {
                return Ok(out);
            }
            if !self.eat(",") {
                return Err(SelectorError::BadSet);
            }
        }
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
    fn the_selectors_acc_provision_and_calico_docs_write() {
        let r1 = l(&[("rack_id", "1"), ("kubernetes.io/os", "linux")]);
        let r2 = l(&[("rack_id", "2")]);
        let none = l(&[]);
        // acc-provision's per-rack BGPPeer (templates/calico-bgp-peer.yaml).
        let s = Selector::parse("rack_id == '1'").unwrap();
        assert!(s.matches(&r1) && !s.matches(&r2) && !s.matches(&none));
        let s = Selector::parse("rack_id != \"1\"").unwrap();
        assert!(!s.matches(&r1) && s.matches(&r2) && s.matches(&none));
        assert!(Selector::parse("all()").unwrap().matches(&none));
        assert!(Selector::parse("").unwrap().matches(&none));
        let s = Selector::parse("has(rack_id) && !(rack_id in {'2', '3'})").unwrap();
        assert!(s.matches(&r1) && !s.matches(&r2) && !s.matches(&none));
        let s =
            Selector::parse("rack_id not in {'1'} || kubernetes.io/os starts with 'lin'").unwrap();
        assert!(s.matches(&r1) && s.matches(&r2) && s.matches(&none));
        // && binds tighter than ||.
        let s = Selector::parse("rack_id == '2' || rack_id == '1' && has(nope)").unwrap();
        assert!(s.matches(&r2) && !s.matches(&r1));
    }

    #[test]
    fn a_malformed_selector_says_where() {
        assert!(
            Selector::parse("rack_id = '1'")
                .unwrap_err()
                .to_string()
                .contains("expected ==")
        );
        assert!(
            Selector::parse("rack_id == 1")
                .unwrap_err()
                .to_string()
                .contains("quoted value")
        );
        assert!(
            Selector::parse("(has(a)")
                .unwrap_err()
                .to_string()
                .contains("`(`")
        );
        assert!(
            Selector::parse("has(a) junk")
                .unwrap_err()
                .to_string()
                .contains("unexpected `junk`")
        );
    }
}
