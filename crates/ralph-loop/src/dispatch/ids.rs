//! Ticket id validation and agent argv templating.

/// Checks that `id` can be used as a file name and as one argv element:
/// only `[A-Za-z0-9._-]`, not empty, and not starting with `.` or `-`.
pub fn validate(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("ticket id is empty".to_owned());
    }
    if id.starts_with('.') || id.starts_with('-') {
        return Err(format!(
            "invalid ticket id {id:?}: it starts with '.' or '-'"
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if let Some(bad) = id.chars().find(|&c| !allowed(c)) {
        return Err(format!(
            "invalid ticket id {id:?}: character {bad:?} is not allowed"
        ));
    }
    Ok(())
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
            "", "../x", "a;b", "-rf", ".hidden", "a b", "x/y", "é", "a\nb",
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
