//! Choosing how an output stream is framed: multiplexed frames or raw bytes.
//!
//! Logs, attach and exec output come either as multiplexed frames (a container or exec without
//! a TTY) or as the terminal's raw bytes (with a TTY). Bytes cannot tell the two apart — a TTY
//! program may well print `0x01` first — so the choice is made from what the engine *says*:
//!
//! * Since API 1.42 Docker labels these responses `application/vnd.docker.multiplexed-stream` or
//!   `application/vnd.docker.raw-stream`.
//! * Older API versions, and Podman's compat service, label every such response
//!   `raw-stream`, multiplexed or not. So a `raw-stream` label alone is not evidence.
//!
//! [`Framing::choose`] therefore trusts a `multiplexed-stream` label and otherwise follows the
//! container's or exec's `Tty` setting, which the caller knows (it created the container or exec,
//! or inspected it).

/// The media type Docker gives multiplexed output (API ≥ 1.42).
pub const MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";
/// The media type Docker gives raw (TTY) output, and older engines give every output stream.
pub const RAW_STREAM: &str = "application/vnd.docker.raw-stream";

/// The stream media type a response declared in its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StreamMediaType {
    /// `application/vnd.docker.multiplexed-stream`.
    Multiplexed,
    /// `application/vnd.docker.raw-stream`.
    Raw,
}

impl StreamMediaType {
    /// Reads a `Content-Type` value (parameters and case ignored); `None` for any other type.
    pub fn from_content_type(value: &str) -> Option<StreamMediaType> {
        let essence = value.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case(MULTIPLEXED_STREAM) {
            Some(StreamMediaType::Multiplexed)
        } else if essence.eq_ignore_ascii_case(RAW_STREAM) {
            Some(StreamMediaType::Raw)
        } else {
            None
        }
    }
}

/// How an output stream is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// 8-byte-header frames tagging stdout and stderr (no TTY).
    Multiplexed,
    /// The terminal's bytes as they come (TTY): everything is stdout.
    Raw,
}

impl Framing {
    /// The framing the engine uses for a container or exec with this `Tty` setting.
    pub fn from_tty(tty: bool) -> Framing {
        if tty {
            Framing::Raw
        } else {
            Framing::Multiplexed
        }
    }

    /// Chooses from the response's declared media type and the container's or exec's `Tty`
    /// setting: a `multiplexed-stream` label wins; otherwise `tty` decides, because older API
    /// versions and Podman label multiplexed output `raw-stream` too (see the module docs).
    pub fn choose(media_type: Option<StreamMediaType>, tty: bool) -> Framing {
        match media_type {
            Some(StreamMediaType::Multiplexed) => Framing::Multiplexed,
            _ => Framing::from_tty(tty),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_parse_with_parameters_and_any_case() {
        assert_eq!(
            StreamMediaType::from_content_type("application/vnd.docker.multiplexed-stream"),
            Some(StreamMediaType::Multiplexed)
        );
        assert_eq!(
            StreamMediaType::from_content_type(" Application/VND.docker.raw-stream ; x=y"),
            Some(StreamMediaType::Raw)
        );
        assert_eq!(StreamMediaType::from_content_type("application/json"), None);
    }

    #[test]
    fn only_the_multiplexed_label_overrides_tty() {
        let m = Some(StreamMediaType::Multiplexed);
        let r = Some(StreamMediaType::Raw);
        assert_eq!(Framing::choose(m, true), Framing::Multiplexed);
        assert_eq!(Framing::choose(r, false), Framing::Multiplexed);
        assert_eq!(Framing::choose(r, true), Framing::Raw);
        assert_eq!(Framing::choose(None, true), Framing::Raw);
        assert_eq!(Framing::choose(None, false), Framing::Multiplexed);
    }
}
