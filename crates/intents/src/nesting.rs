//! A pre-check on flow-collection nesting (`[[[[…` or `{a: {a: …`).
//!
//! libyaml (under serde_yaml) does work proportional to the flow nesting
//! depth for every token, so a 2 MB file of `[` takes over an hour before
//! serde_yaml refuses it at its recursion limit (128). This linear scan
//! follows libyaml's tokenizer closely enough to count flow levels: in flow
//! context it tells quoted scalars, plain scalars, tags, anchors and
//! comments apart; in block context a flow collection starts only where a
//! node starts (so `refund [A12345](order_id)` is text). Its count may run
//! high (block-scalar text that looks like flow), never far low.

/// Deepest flow nesting accepted; real intent files use two or three levels.
pub(crate) const MAX_DEPTH: usize = 100;

/// Where the nesting first went past [`MAX_DEPTH`] (1-based line, column).
pub(crate) fn too_deep(src: &str) -> Option<(usize, usize)> {
    Scan { chars: src.chars().collect(), i: 0, depth: 0 }.run()
}

/// What the flow tokenizer expects next.
#[derive(Clone, Copy, PartialEq)]
enum State {
    /// A token (after `[`, `{`, `,`, `:`, a tag or an anchor).
    Start,
    /// Inside a plain scalar.
    Plain,
    /// After a complete node (a quoted scalar, an alias, a closed collection).
    After,
}

struct Scan {
    chars: Vec<char>,
    i: usize,
    depth: usize,
}

fn flow_indicator(c: char) -> bool {
    matches!(c, ',' | '[' | ']' | '{' | '}')
}

impl Scan {
    fn at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    /// The character after the current one is a blank, a line end or (in
    /// flow context) a flow indicator: `:`, `?` and `-` act as indicators.
    fn indicator_follows(&self) -> bool {
        self.at(self.i + 1).is_none_or(|n| n.is_whitespace() || (self.depth > 0 && flow_indicator(n)))
    }

    fn position(&self) -> (usize, usize) {
        let line = 1 + self.chars[..self.i].iter().filter(|&&c| c == '\n').count();
        let column = self.i - self.chars[..self.i].iter().rposition(|&c| c == '\n').map_or(0, |p| p + 1) + 1;
        (line, column)
    }

    fn skip_line(&mut self) {
        while self.at(self.i).is_some_and(|c| c != '\n') {
            self.i += 1;
        }
    }

    /// Skips a quoted scalar starting at `self.i`; `one_line` stops at the line end.
    fn skip_quoted(&mut self, one_line: bool) {
        let quote = self.chars[self.i];
        self.i += 1;
        while let Some(c) = self.at(self.i) {
            self.i += 1;
            match c {
                '\n' if one_line => return,
                '\\' if quote == '"' => self.i += 1,
                '\'' if quote == '\'' && self.at(self.i) == Some('\'') => self.i += 1,
                c if c == quote => return,
                _ => {}
            }
        }
    }

    /// Skips a tag, anchor or alias name.
    fn skip_name(&mut self) {
        self.i += 1;
        while self.at(self.i).is_some_and(|c| !c.is_whitespace() && !flow_indicator(c)) {
            self.i += 1;
        }
    }

    /// Enters a flow collection; where, if that is too deep.
    fn open(&mut self) -> Option<(usize, usize)> {
        self.depth += 1;
        let too_deep = (self.depth > MAX_DEPTH).then(|| self.position());
        self.i += 1;
        too_deep
    }

    fn run(mut self) -> Option<(usize, usize)> {
        // Block context: whether a node may start here.
        let mut node_start = true;
        let mut state = State::Start;
        while let Some(c) = self.at(self.i) {
            let after_blank = self.i == 0 || self.chars[self.i - 1].is_whitespace();
            if self.depth == 0 {
                match c {
                    '\n' => node_start = true,
                    ' ' | '\t' | '\r' => {}
                    '#' if after_blank => {
                        self.skip_line();
                        continue;
                    }
                    '-' | '?' | ':' if self.indicator_follows() => node_start = true,
                    '"' | '\'' if node_start => {
                        self.skip_quoted(true);
                        node_start = self.at(self.i - 1) == Some('\n');
                        continue;
                    }
                    '!' | '&' if node_start => {
                        self.skip_name();
                        continue;
                    }
                    '[' | '{' if node_start => {
                        if let Some(at) = self.open() {
                            return Some(at);
                        }
                        state = State::Start;
                        continue;
                    }
                    _ => node_start = false,
                }
                self.i += 1;
                continue;
            }
            match (state, c) {
                (_, '[' | '{') => {
                    if let Some(at) = self.open() {
                        return Some(at);
                    }
                    state = State::Start;
                    continue;
                }
                (_, ']' | '}') => {
                    self.depth -= 1;
                    state = State::After;
                    node_start = false;
                }
                (_, ',') => state = State::Start,
                (_, '#') if after_blank => {
                    self.skip_line();
                    continue;
                }
                (State::Plain, ':') if self.indicator_follows() => state = State::Start,
                (State::Start | State::After, ':') => state = State::Start,
                (State::Plain, _) => {}
                (_, c) if c.is_whitespace() => {}
                (_, '"' | '\'') => {
                    self.skip_quoted(false);
                    state = State::After;
                    continue;
                }
                (_, '!' | '&') => {
                    self.skip_name();
                    state = State::Start;
                    continue;
                }
                (_, '*') => {
                    self.skip_name();
                    state = State::After;
                    continue;
                }
                (_, '?' | '-') if self.indicator_follows() => state = State::Start,
                _ => state = State::Plain,
            }
            self.i += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_flow_nesting_is_found_where_it_goes_too_deep() {
        let deep = format!("intents: {}{}\n", "[".repeat(2_000_000), "]".repeat(10));
        assert_eq!(too_deep(&deep), Some((1, 10 + MAX_DEPTH)));
        let maps = format!("a:\n  {}", "{b: ".repeat(MAX_DEPTH + 1));
        assert_eq!(too_deep(&maps).map(|p| p.0), Some(2));
        let ok = format!("a: {}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(too_deep(&ok), None);
    }

    #[test]
    fn quotes_that_are_plain_text_to_libyaml_do_not_hide_brackets() {
        // In flow context `a:"` and `a "` are plain scalars: each `[` is real.
        for unit in ["[a:\"", "[a \"", "[!t \"]\" ", "[\"]\" [", "[a: '"] {
            let src = format!("k: {}", unit.repeat(2 * MAX_DEPTH + 2));
            assert!(too_deep(&src).is_some(), "{unit}");
        }
        // A quote in block text, then flow nesting on the next line.
        let src = format!("a: |\n  \"\nb: {}", "[".repeat(MAX_DEPTH + 1));
        assert!(too_deep(&src).is_some());
    }

    #[test]
    fn annotations_quotes_and_comments_do_not_count() {
        let annotations = "examples:\n".to_string() + &"  - refund [A12345](order_id) [x](y) [[z\n".repeat(500);
        assert_eq!(too_deep(&annotations), None);
        let flow = "examples: [".to_string() + &"\"[A1](order_id) [[\", '[x](y)]]', ".repeat(500) + "]\n";
        assert_eq!(too_deep(&flow), None);
        let quoted = format!("a: \"{}\"\nb: '{}'''\n", "[".repeat(500), "{".repeat(500));
        assert_eq!(too_deep(&quoted), None);
        let commented = format!("# {}\na: [1, 2] # {}\n", "[".repeat(500), "{".repeat(500));
        assert_eq!(too_deep(&commented), None);
        let escaped = format!("a: [\"\\\"{}\"]\n", "[".repeat(500));
        assert_eq!(too_deep(&escaped), None);
        // Found by fuzzing: an escape as the file's last character.
        assert_eq!(too_deep("a: \"x\\"), None);
    }

    #[test]
    fn every_shipped_intent_file_passes() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../intents");
        for entry in std::fs::read_dir(dir).unwrap() {
            let src = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            assert_eq!(too_deep(&src), None);
        }
    }
}
