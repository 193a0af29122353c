//! One document, two renderings: Markdown (`report.md`) and a self-contained HTML page
//! (`report.html`, plots inline as SVG, no external assets). The HTML is well-formed XML, so
//! any HTML or XML parser reads it.

use std::fmt::Write;

/// A table cell; `highlight` marks a value that differs from the base (compare).
#[derive(Clone, Debug, Default)]
pub struct Cell {
    pub text: String,
    pub highlight: bool,
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell {
            text,
            highlight: false,
        }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::from(text.to_string())
    }
}

#[derive(Clone, Debug)]
pub enum Block {
    Heading(u8, String),
    Para(String),
    List(Vec<String>),
    Table {
        headers: Vec<String>,
        rows: Vec<Vec<Cell>>,
    },
    /// An SVG plot: inline in HTML, linked (by file name) in Markdown.
    Plot {
        file: String,
        title: String,
        svg: String,
    },
    /// Preformatted text.
    Pre(String),
}

#[derive(Clone, Debug, Default)]
pub struct Doc {
    pub title: String,
    pub blocks: Vec<Block>,
}

/// An integer with thousands separators (205869 → 205,869); other text as it is.
pub fn group_digits(text: &str) -> String {
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit()) || text.len() <= 3 {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + text.len() / 3);
    for (i, c) in text.chars().enumerate() {
        if i > 0 && (text.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A heading's anchor, as GitHub derives it: lower case, spaces to `-`, other punctuation gone.
pub fn slug(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// Words longer than this many characters wrap in HTML (`td.prose`); figures never do.
pub const PROSE: usize = 20;

/// Words, not a figure: long, with spaces, starting with a letter.
fn is_prose(text: &str) -> bool {
    text.chars().count() > PROSE
        && text.contains(' ')
        && text.chars().next().is_some_and(char::is_alphabetic)
}

/// How wide a table renders, in characters of its widest line. In HTML (`wraps`) prose cells
/// count with their longest word or [`PROSE`], whichever is larger (they wrap at spaces); on a
/// terminal every cell counts whole.
pub fn table_width(headers: &[String], rows: &[Vec<Cell>], wraps: bool) -> usize {
    let width = |t: &str| {
        if wraps && is_prose(t) {
            t.split(' ')
                .map(|w| w.chars().count())
                .max()
                .unwrap_or(0)
                .max(PROSE)
        } else {
            t.chars().count()
        }
    };
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(width(&c.text) + usize::from(c.highlight));
            }
        }
    }
    widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1)
}

/// `text` broken at spaces into lines of at most `width` characters (a longer word stands alone).
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = indent.to_string();
        } else if len > 0 && !line.ends_with(' ') {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}

// Numbers and headers never wrap; the first (name) column and prose cells wrap at spaces only.
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #bbb;padding:3px 8px;text-align:right;white-space:nowrap}
td.prose{white-space:normal;text-align:left;min-width:12em}td.text,th.text{text-align:left}
th:first-child,td:first-child{text-align:left}th{background:#eef}td.diff{background:#ffe08a;font-weight:bold}
pre{background:#f6f6f6;padding:1em;overflow-x:auto}figure{margin:1.5em 0}figcaption{font-size:0.9em;color:#555}";

impl Doc {
    pub fn new(title: impl Into<String>) -> Doc {
        Doc {
            title: title.into(),
            blocks: Vec::new(),
        }
    }

    pub fn h(&mut self, level: u8, text: impl Into<String>) {
        self.blocks.push(Block::Heading(level, text.into()));
    }

    pub fn p(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Para(text.into()));
    }

    pub fn list(&mut self, items: Vec<String>) {
        self.blocks.push(Block::List(items));
    }

    pub fn table(&mut self, headers: Vec<String>, rows: Vec<Vec<Cell>>) {
        self.blocks.push(Block::Table { headers, rows });
    }

    pub fn plot(&mut self, file: &str, title: &str, svg: String) {
        self.blocks.push(Block::Plot {
            file: file.into(),
            title: title.into(),
            svg,
        });
    }

    pub fn pre(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Pre(text.into()));
    }

    /// The plots to write next to the report, as (file name, SVG).
    pub fn plots(&self) -> Vec<(&str, &str)> {
        self.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Plot { file, svg, .. } => Some((file.as_str(), svg.as_str())),
                _ => None,
            })
            .collect()
    }

    pub fn markdown(&self) -> String {
        let mut m = format!("# {}\n", self.title);
        for b in &self.blocks {
            m.push('\n');
            match b {
                Block::Heading(l, t) => {
                    let _ = writeln!(m, "{} {t}", "#".repeat(usize::from(*l)));
                }
                Block::Para(t) => {
                    let _ = writeln!(m, "{t}");
                }
                Block::List(items) => {
                    for i in items {
                        let _ = writeln!(m, "- {i}");
                    }
                }
                Block::Table { headers, rows } => {
                    let _ = writeln!(m, "| {} |", headers.join(" | "));
                    let _ = writeln!(
                        m,
                        "|{}",
                        headers
                            .iter()
                            .enumerate()
                            .map(|(i, _)| if i == 0 { "---|" } else { "---:|" })
                            .collect::<String>()
                    );
                    for r in rows {
                        let cells: Vec<String> = r
                            .iter()
                            .map(|c| {
                                let t = c.text.replace('|', "\\|");
                                if c.highlight { format!("**{t}**") } else { t }
                            })
                            .collect();
                        let _ = writeln!(m, "| {} |", cells.join(" | "));
                    }
                }
                Block::Plot { file, title, .. } => {
                    let _ = writeln!(m, "![{title}]({file})");
                }
                Block::Pre(t) => {
                    let _ = writeln!(m, "```\n{}\n```", t.trim_end());
                }
            }
        }
        m
    }

    pub fn html(&self) -> String {
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>{}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n<h1>{}</h1>\n",
            escape(&self.title),
            escape(&self.title)
        );
        for b in &self.blocks {
            match b {
                Block::Heading(l, t) => {
                    let l = (*l).clamp(1, 6);
                    let _ = writeln!(h, "<h{l} id=\"{}\">{}</h{l}>", slug(t), escape(t));
                }
                Block::Para(t) => {
                    let _ = writeln!(h, "<p>{}</p>", inline(&escape(t)));
                }
                Block::List(items) => {
                    h.push_str("<ul>\n");
                    for i in items {
                        let _ = writeln!(h, "<li>{}</li>", inline(&escape(i)));
                    }
                    h.push_str("</ul>\n");
                }
                Block::Table { headers, rows } => {
                    h.push_str("<table>\n<thead><tr>");
                    let left = text_columns(rows);
                    for (i, x) in headers.iter().enumerate() {
                        // A header sits over its column: left over words, right over figures.
                        let class = if i > 0 && left.get(i).copied().unwrap_or(false) {
                            " class=\"text\""
                        } else {
                            ""
                        };
                        let _ = write!(h, "<th{class}>{}</th>", escape(x));
                    }
                    h.push_str("</tr></thead>\n<tbody>\n");
                    for r in rows {
                        h.push_str("<tr>");
                        for (i, c) in r.iter().enumerate() {
                            let text_col = i > 0 && left.get(i).copied().unwrap_or(false);
                            let class = match (c.highlight, is_prose(&c.text), text_col) {
                                (true, _, _) => " class=\"diff\"",
                                (false, true, _) => " class=\"prose\"",
                                (false, false, true) => " class=\"text\"",
                                (false, false, false) => "",
                            };
                            let _ = write!(h, "<td{class}>{}</td>", escape(&c.text));
                        }
                        h.push_str("</tr>\n");
                    }
                    h.push_str("</tbody>\n</table>\n");
                }
                Block::Plot { title, svg, .. } => {
                    let _ = writeln!(
                        h,
                        "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>",
                        svg.trim(),
                        escape(title)
                    );
                }
                Block::Pre(t) => {
                    let _ = writeln!(h, "<pre>{}</pre>", escape(t.trim_end()));
                }
            }
        }
        h.push_str("</body>\n</html>\n");
        h
    }
}

/// `code` spans and `[text](#anchor)` links of the Markdown source, in HTML (the text is already
/// escaped).
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(&links(part));
        }
    }
    out
}

/// `[text](#anchor)` → `<a href="#anchor">text</a>`; only links within the page.
fn links(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let parsed = after.find("](#").and_then(|j| {
            let close = after[j..].find(')')? + j;
            let (text, anchor) = (&after[..j], &after[j + 3..close]);
            let ok = !text.contains('[')
                && anchor
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
            ok.then(|| (format!("<a href=\"#{anchor}\">{text}</a>"), close + 1))
        });
        match parsed {
            Some((a, used)) => {
                out.push_str(&a);
                rest = &after[used..];
            }
            None => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Which columns hold words rather than numbers (no cell starts with a digit or a sign): those
/// are aligned left, numbers right.
pub fn text_columns(rows: &[Vec<Cell>]) -> Vec<bool> {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    (0..n)
        .map(|i| {
            i == 0
                || !rows.iter().filter_map(|r| r.get(i)).any(|c| {
                    c.text
                        .chars()
                        .next()
                        .is_some_and(|x| x.is_ascii_digit() || "+−-–".contains(x))
                })
        })
        .collect()
}

/// A table for the terminal: columns aligned, highlighted cells marked with `*`.
pub fn text_table(headers: &[String], rows: &[Vec<Cell>]) -> String {
    let cell = |c: &Cell| {
        if c.highlight {
            format!("{}*", c.text)
        } else {
            c.text.clone()
        }
    };
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell(c).chars().count());
            }
        }
    }
    let left = text_columns(rows);
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            let pad = w.saturating_sub(c.chars().count());
            if i > 0 {
                s.push_str("  ");
            }
            if left.get(i).copied().unwrap_or(true) {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(cell).collect()));
    }
    out
}
