//! The `network` field: `bridge`, `host`, `none`, `container:<name|id>`, or a custom network.

use std::fmt;

/// A container's network mode.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Network {
    /// The default bridge.
    Bridge,
    /// The host's network stack.
    Host,
    /// No network.
    None,
    /// Share another container's network stack.
    Container(String),
    /// A user-defined network, attached by name.
    Custom(String),
}

impl Network {
    /// The HostConfig `NetworkMode` value.
    pub fn mode(&self) -> String {
        match self {
            Network::Bridge => "bridge".into(),
            Network::Host => "host".into(),
            Network::None => "none".into(),
            Network::Container(c) => format!("container:{c}"),
            Network::Custom(n) => n.clone(),
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.mode())
    }
}

/// Parses a network value.
pub(crate) fn parse(s: &str) -> Result<Network, String> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.bytes().enumerate().all(|(i, b)| {
                b.is_ascii_alphanumeric() || (i > 0 && matches!(b, b'_' | b'.' | b'-'))
            })
    };
    match s {
        "bridge" => Ok(Network::Bridge),
        "host" => Ok(Network::Host),
        "none" => Ok(Network::None),
        _ => {
            if let Some(c) = s.strip_prefix("container:") {
                if name_ok(c) {
                    Ok(Network::Container(c.to_string()))
                } else {
                    Err(format!(
                        "network `{s}` names no container: write `container:<name|id>`"
                    ))
                }
            } else if name_ok(s) {
                Ok(Network::Custom(s.to_string()))
            } else {
                Err(format!(
                    "`{s}` is not a valid network name: use letters, digits, `_`, `.` and `-`"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modes() {
        assert_eq!(parse("bridge").unwrap(), Network::Bridge);
        assert_eq!(parse("container:db").unwrap().mode(), "container:db");
        assert_eq!(parse("my-net").unwrap(), Network::Custom("my-net".into()));
        assert!(parse("container:").is_err());
        assert!(parse("bad net").is_err());
    }
}
