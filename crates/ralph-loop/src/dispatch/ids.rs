//! Ticket id validation and agent argv templating.

/// Checks that `id` can be used as a file name, as one argv element and in
/// the branch name `ralph/<id>`. See [`invalid_reason`] for the rules.
pub fn validate(id: &str) -> Result<(), String> {
    match invalid_reason(id) {
        None => Ok(()),
        Some(reason) => Err(format!("invalid ticket id {id:?}: {reason}")),
    }
}

/// Returns why `id` is not a valid ticket id, or `None` when it is valid.
///
/// A valid id is made of ASCII letters, digits, `.`, `_` and `-`. It does
/// not start with `.` or `-`, and it has none of the forms git rejects in a
/// branch name: `..`, a trailing `.` or a `.lock` suffix.
pub fn invalid_reason(id: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let reason = if id.is_empty() {
        "it is empty".to_owned()
    } else if let Some(first @ ('.' | '-')) = id.chars().next() {
        format!("it starts with {first:?}")
    } else if let Some(bad) = id.chars().find(|&c| !allowed(c)) {
        format!("character {bad:?} is not allowed")
    } else if id.contains("..") || id.ends_with('.') || id.ends_with(".lock") {
        "git does not accept `..`, a trailing `.` or a `.lock` suffix in a branch name".to_owned()
    } else {
        return None;
    };
    Some(reason)
}

/// Replaces `{ticket}` in every element of `template`. The result is passed
/// to the program as it is, never to a shell.
pub fn expand(template: &[String], ticket: &str) -> Vec<String> {
    template
        .iter()
        .map(|arg| arg.replace("{ticket}", ticket))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_pass() {
        for id in ["pt-0nqq", "abc_1.2", "A9"] {
            assert_eq!(validate(id), Ok(()), "{id}");
        }
    }

    #[test]
    fn hostile_ids_fail() {
        for id in [
            "", "../x", "a;b", "-rf", ".hidden", "a b", "x/y", "é", "a\nb", "a..b", "tr.", "x.lock",
        ] {
            assert!(validate(id).is_err(), "{id:?}");
        }
    }

    #[test]
    fn expand_replaces_every_placeholder() {
        let template = ["pi", "-p", "/tf {ticket} --auto", "{ticket}"].map(String::from);
        let argv = expand(&template, "pt-1");
        assert_eq!(argv, ["pi", "-p", "/tf pt-1 --auto", "pt-1"]);
    }
}
