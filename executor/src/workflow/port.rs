//! Port specs: `80`, `8080:80`, `127.0.0.1:8080:80`, `[::1]:8080:80`, each with an optional
//! `/tcp`, `/udp` or `/sctp` (tcp by default).
//!
//! Dagu splits on `:` and so cannot take an IPv6 host address; here an IPv6 address is written
//! in brackets, as docker does. An empty host port (`127.0.0.1::80`) lets the engine choose.

use std::fmt;
use std::net::IpAddr;

/// Transport protocol of a published port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// The default.
    Tcp,
    /// `/udp`.
    Udp,
    /// `/sctp`.
    Sctp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        })
    }
}

/// One published (or only exposed) port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortBinding {
    /// Host address to bind; `None` means all addresses (0.0.0.0).
    pub host_ip: Option<IpAddr>,
    /// Host port; `None` lets the engine choose (or, with no host part at all, only exposes).
    pub host_port: Option<u16>,
    /// Port inside the container.
    pub container_port: u16,
    /// Protocol.
    pub protocol: Protocol,
}

impl PortBinding {
    /// The Engine API key, e.g. `80/tcp`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.container_port, self.protocol)
    }
}

/// What a port spec may look like, for error messages.
pub(crate) const PORT_FORMS: &str =
    "`80`, `8080:80`, `127.0.0.1:8080:80` or `[::1]:8080:80`, optionally followed by `/tcp`, `/udp` or `/sctp`";

/// Parses one port spec.
pub(crate) fn parse(spec: &str) -> Result<PortBinding, String> {
    let (body, protocol) = match spec.rsplit_once('/') {
        Some((b, "tcp")) => (b, Protocol::Tcp),
        Some((b, "udp")) => (b, Protocol::Udp),
        Some((b, "sctp")) => (b, Protocol::Sctp),
        Some((_, p)) => {
            return Err(format!(
                "invalid protocol `{p}` in port `{spec}`: use tcp, udp or sctp"
            ))
        }
        None => (spec, Protocol::Tcp),
    };
    let (ip, rest) = if let Some(after) = body.strip_prefix('[') {
        let Some((addr, rest)) = after.split_once(']') else {
            return Err(format!("invalid port format `{spec}`: `[` without `]`"));
        };
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("invalid host IP `{addr}` in port `{spec}`"))?;
        let Some(rest) = rest.strip_prefix(':') else {
            return Err(format!(
                "invalid port format `{spec}`: expected `:` after `[{addr}]`"
            ));
        };
        (Some(ip), rest)
    } else {
        let colons = body.matches(':').count();
        if colons == 2 {
            let (addr, rest) = body.split_once(':').unwrap_or_default();
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| format!("invalid host IP `{addr}` in port `{spec}`"))?;
            (Some(ip), rest)
        } else if colons > 2 {
            return Err(format!(
                "invalid port format `{spec}`: an IPv6 host address goes in brackets, e.g. `[::1]:8080:80`"
            ));
        } else {
            (None, body)
        }
    };
    let (host, container) = match rest.split_once(':') {
        Some((h, c)) => (Some(h), c),
        None => {
            if ip.is_some() {
                return Err(format!("invalid port format `{spec}`"));
            }
            (None, rest)
        }
    };
    let number = |s: &str, what: &str| -> Result<u16, String> {
        if s.contains('-') {
            return Err(format!(
                "port ranges like `{s}` are not supported in `{spec}`: list each port"
            ));
        }
        match s.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "invalid {what} port `{s}` in `{spec}`: expected a number from 1 to 65535"
            )),
        }
    };
    let container_port = number(container, "container")?;
    let host_port = match host {
        None | Some("") if ip.is_some() || host.is_none() => None,
        None | Some("") => return Err(format!("invalid port format `{spec}`: empty host port")),
        Some(h) => Some(number(h, "host")?),
    };
    Ok(PortBinding {
        host_ip: ip,
        host_port,
        container_port,
        protocol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        let p = parse("80").unwrap();
        assert_eq!(
            (p.host_port, p.container_port, p.key()),
            (None, 80, "80/tcp".into())
        );
        let p = parse("8080:80").unwrap();
        assert_eq!((p.host_port, p.container_port), (Some(8080), 80));
        let p = parse("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(p.host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(p.protocol, Protocol::Udp);
        let p = parse("[::1]:8080:80").unwrap();
        assert_eq!(p.host_ip, Some("::1".parse().unwrap()));
        let p = parse("127.0.0.1::80/sctp").unwrap();
        assert_eq!((p.host_port, p.protocol), (None, Protocol::Sctp));
    }

    #[test]
    fn rejects_bad_forms() {
        for bad in [
            "",
            "x",
            "80/icmp",
            "0",
            "70000",
            "a:80",
            "1.2.3:80:80",
            "::1:80:80",
            "[::1]80",
            "8000-8010:80",
            ":80",
        ] {
            assert!(parse(bad).is_err(), "{bad} should fail");
        }
    }
}
