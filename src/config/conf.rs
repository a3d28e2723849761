//! Reading `bitcoin.conf` the way Core's `GetConfigOptions` does: `name=value`
//! lines, `[section]` headers, `section.name=value`, `#` comments, whitespace
//! trimmed; anything else is a parse error naming the line.

/// One `name=value` line: (section, name, value). The section is the header in
/// force or the `section.` prefix of the name; "" is the top section.
pub type ConfLine = (String, String, String);

/// Parses conf text. Errors are Core's, without the "Error reading
/// configuration file: " prefix.
pub fn parse(text: &str) -> Result<Vec<ConfLine>, String> {
    let mut section = String::new();
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let (content, used_hash) = match raw.find('#') {
            Some(p) => (&raw[..p], true),
            None => (raw, false),
        };
        let line = content.trim_matches(|c: char| {
            c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\x0b' || c == '\x0c'
        });
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            section = line[1..line.len() - 1].to_string();
        } else if line.starts_with('-') {
            return Err(format!("parse error on line {line_no}: {line}, options in configuration file must be specified without leading -"));
        } else if let Some(eq) = line.find('=') {
            let name = line[..eq].trim_end_matches([' ', '\t']);
            let value = line[eq + 1..].trim_start_matches([' ', '\t']);
            if used_hash && name.contains("rpcpassword") {
                return Err(format!("parse error on line {line_no}, using # in rpcpassword can be ambiguous and should be avoided"));
            }
            let (sec, key) = match name.rfind('.') {
                Some(dot) => (name[..dot].to_string(), name[dot + 1..].to_string()),
                None => (section.clone(), name.to_string()),
            };
            out.push((sec, key, value.to_string()));
        } else {
            let mut e = format!("parse error on line {line_no}: {line}");
            if line.starts_with("no") {
                e.push_str(&format!(
                    ", if you intended to specify a negated option, use {line}=1 instead"
                ));
            }
            return Err(e);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_prefixes_comments_and_whitespace() {
        let lines =
            parse("# c\nserver=1\n  rpcport = 1 # x\n[regtest]\nport=2\nmain.port=3\n").unwrap();
        assert_eq!(
            lines,
            vec![
                ("".into(), "server".into(), "1".into()),
                ("".into(), "rpcport".into(), "1".into()),
                ("regtest".into(), "port".into(), "2".into()),
                ("main".into(), "port".into(), "3".into())
            ]
        );
    }

    #[test]
    fn line_without_equals_is_cores_parse_error() {
        assert_eq!(
            parse("a=1\nbogus\n").unwrap_err(),
            "parse error on line 2: bogus"
        );
        assert_eq!(parse("nolisten\n").unwrap_err(), "parse error on line 1: nolisten, if you intended to specify a negated option, use nolisten=1 instead");
        assert!(parse("-server=1")
            .unwrap_err()
            .contains("must be specified without leading -"));
        assert!(parse("rpcpassword=a#b")
            .unwrap_err()
            .contains("using # in rpcpassword"));
    }
}
