//! The pipe protocol between parlab and its worker processes: length-prefixed binary frames.
//!
//! A frame is a little-endian `u32` body length, then the body: one tag byte and the message's
//! fields (integers little-endian, strings and byte blobs as a length and the bytes). Result
//! payloads are the values' raw bytes in native order: both ends are the same binary on the same
//! machine, so no conversion is needed, and decoding is one `memcpy`. JSON would cost a
//! formatting and a parse per number, which is exactly the overhead a process pool must avoid.

use std::ops::Range;

use crate::params::{ParamValue, Params};

/// Bumped on any change to the messages, so a stale worker binary is refused at start-up.
pub const PROTOCOL: u32 = 1;

/// Bytes before a frame's body: its length.
pub const LEN_BYTES: usize = 4;
/// Bytes a `Done` frame spends before its payload: length, tag, task number.
pub const DONE_HEADER: usize = LEN_BYTES + 1 + 4;
/// Frames longer than this are a protocol error (a corrupt length), not an allocation; a
/// message that would need a longer one is refused when it is encoded, never truncated.
pub const MAX_FRAME: usize = 1 << 31;
/// Longest string field (a workload or parameter name, a path) a `Setup` may carry.
pub const MAX_STRING: usize = 1 << 16;
/// Most parameters a `Setup` may carry.
pub const MAX_PARAMS: u32 = 256;
/// A `Failed` message is cut to this many bytes, so reporting a failure can never fail.
pub const MAX_FAILURE: usize = 1 << 16;

/// What a worker is asked to prepare: one workload at one size, which it re-creates from these
/// (every input is deterministic for its seed), and the shared region for `process-shm`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    pub workload: String,
    pub params: Params,
    pub size: u64,
    pub seed: u64,
    pub shared: Option<SharedSpec>,
}

/// Where a worker finds the shared region: a path it can open and map.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedSpec {
    /// Unique per region in this parlab process, so a reused file descriptor is never mistaken
    /// for a region the workers already mapped.
    pub id: u64,
    pub path: String,
    pub len: u64,
}

/// Parent to worker. Decoding borrows byte payloads from the receive buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum ToWorker<'a> {
    /// Prepare a job; answered by `Ready` or `Failed`.
    Setup(JobSpec),
    /// Compute items `range` of the current job as task number `task`; answered by `Done`.
    Task { task: u32, range: Range<u64> },
    /// Message number `seq` of the current job (e.g. a ping of `ping_pong`), for the job to
    /// answer; answered by a `Done` with task number `seq`. Empty under `process-shm`, where
    /// the message is in the shared region.
    Message { seq: u32, bytes: &'a [u8] },
    /// Answer with the same bytes at once: a round trip over the pipes, nothing else.
    Ping(&'a [u8]),
}

/// Worker to parent. Borrows its payload from the receive buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum FromWorker<'a> {
    /// Sent once at start-up.
    Hello {
        protocol: u32,
        pid: u32,
    },
    Ready,
    /// A finished task; the payload is empty in `process-shm`, where results are in the region.
    Done {
        task: u32,
        payload: &'a [u8],
    },
    Failed(String),
    Pong(&'a [u8]),
}

const SETUP: u8 = 1;
const TASK: u8 = 2;
const PING: u8 = 3;
const MESSAGE: u8 = 4;
const HELLO: u8 = 11;
const READY: u8 = 12;
const DONE: u8 = 13;
const FAILED: u8 = 14;
const PONG: u8 = 15;

/// A malformed frame: the peer is not speaking this protocol.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("malformed message: {0}")]
pub struct WireError(pub String);

/// Appends one frame to `out`: reserves the length, lets `body` write, then fills the length in.
/// A body longer than [`MAX_FRAME`] is taken back out and refused.
fn frame(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) -> Result<(), WireError> {
    let at = out.len();
    out.extend_from_slice(&[0; LEN_BYTES]);
    body(out);
    let result = put_len(&mut out[at..]);
    if result.is_err() {
        out.truncate(at);
    }
    result
}

/// Writes the length of the frame that fills `frame` into its first four bytes.
fn put_len(frame: &mut [u8]) -> Result<(), WireError> {
    put_len_within(frame, MAX_FRAME)
}

/// [`put_len`] with the limit as a parameter, so that tests need not allocate 2 GiB.
fn put_len_within(frame: &mut [u8], max: usize) -> Result<(), WireError> {
    let body = frame.len() - LEN_BYTES;
    let len = u32::try_from(body).ok().filter(|_| body <= max).ok_or_else(|| {
        WireError(format!("a message of {body} bytes is longer than a frame may be ({max})"))
    })?;
    frame[..LEN_BYTES].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

fn put_u32(out: &mut Vec<u8>, x: u32) {
    out.extend_from_slice(&x.to_le_bytes());
}
fn put_u64(out: &mut Vec<u8>, x: u64) {
    out.extend_from_slice(&x.to_le_bytes());
}
/// A string field; its length is checked against [`MAX_STRING`] by the decoder, which refuses
/// the whole message, so an over-long one is cut here only if a caller ignored that bound.
fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    let b = &b[..b.len().min(MAX_STRING)];
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
}

impl ToWorker<'_> {
    /// Appends the message's frame to `out`; `Err` when it would not fit in one.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        frame(out, |out| match self {
            ToWorker::Setup(job) => {
                out.push(SETUP);
                put_bytes(out, job.workload.as_bytes());
                put_u32(out, job.params.0.len() as u32);
                for (name, value) in &job.params.0 {
                    put_bytes(out, name.as_bytes());
                    match value {
                        ParamValue::Int(i) => {
                            out.push(0);
                            put_u64(out, *i as u64);
                        }
                        ParamValue::Float(f) => {
                            out.push(1);
                            put_u64(out, f.to_bits());
                        }
                        ParamValue::Text(s) => {
                            out.push(2);
                            put_bytes(out, s.as_bytes());
                        }
                    }
                }
                put_u64(out, job.size);
                put_u64(out, job.seed);
                match &job.shared {
                    None => out.push(0),
                    Some(s) => {
                        out.push(1);
                        put_u64(out, s.id);
                        put_bytes(out, s.path.as_bytes());
                        put_u64(out, s.len);
                    }
                }
            }
            ToWorker::Task { task, range } => {
                out.push(TASK);
                put_u32(out, *task);
                put_u64(out, range.start);
                put_u64(out, range.end);
            }
            ToWorker::Message { seq, bytes } => {
                out.push(MESSAGE);
                put_u32(out, *seq);
                out.extend_from_slice(bytes);
            }
            ToWorker::Ping(bytes) => {
                out.push(PING);
                out.extend_from_slice(bytes);
            }
        })
    }

    pub fn decode(body: &[u8]) -> Result<ToWorker<'_>, WireError> {
        let mut r = Reader(body);
        let msg = match r.u8()? {
            SETUP => {
                let workload = r.string()?;
                let mut params = Params::default();
                let count = r.u32()?;
                if count > MAX_PARAMS {
                    return Err(WireError(format!("{count} parameters, more than {MAX_PARAMS}")));
                }
                for _ in 0..count {
                    let name = r.string()?;
                    let value = match r.u8()? {
                        0 => ParamValue::Int(r.u64()? as i64),
                        1 => ParamValue::Float(f64::from_bits(r.u64()?)),
                        2 => ParamValue::Text(r.string()?.into()),
                        k => return Err(WireError(format!("unknown parameter kind {k}"))),
                    };
                    params.0.insert(name, value);
                }
                let (size, seed) = (r.u64()?, r.u64()?);
                let shared = match r.u8()? {
                    0 => None,
                    _ => Some(SharedSpec { id: r.u64()?, path: r.string()?, len: r.u64()? }),
                };
                ToWorker::Setup(JobSpec { workload, params, size, seed, shared })
            }
            TASK => {
                let task = r.u32()?;
                let range = r.u64()?..r.u64()?;
                if range.start > range.end {
                    return Err(WireError(format!("task {task} has a backwards range {range:?}")));
                }
                ToWorker::Task { task, range }
            }
            MESSAGE => ToWorker::Message { seq: r.u32()?, bytes: r.rest() },
            PING => ToWorker::Ping(r.rest()),
            tag => return Err(WireError(format!("unknown message tag {tag} for a worker"))),
        };
        r.end()?;
        Ok(msg)
    }
}

impl FromWorker<'_> {
    /// Appends the message's frame to `out`; `Err` when it would not fit in one (a `Failed`
    /// message never fails: it is cut to [`MAX_FAILURE`] bytes).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        frame(out, |out| match self {
            FromWorker::Hello { protocol, pid } => {
                out.push(HELLO);
                put_u32(out, *protocol);
                put_u32(out, *pid);
            }
            FromWorker::Ready => out.push(READY),
            FromWorker::Done { task, payload } => {
                out.push(DONE);
                put_u32(out, *task);
                out.extend_from_slice(payload);
            }
            FromWorker::Failed(message) => {
                out.push(FAILED);
                out.extend_from_slice(&message.as_bytes()[..message.len().min(MAX_FAILURE)]);
            }
            FromWorker::Pong(bytes) => {
                out.push(PONG);
                out.extend_from_slice(bytes);
            }
        })
    }

    pub fn decode(body: &[u8]) -> Result<FromWorker<'_>, WireError> {
        let mut r = Reader(body);
        let msg = match r.u8()? {
            HELLO => FromWorker::Hello { protocol: r.u32()?, pid: r.u32()? },
            READY => FromWorker::Ready,
            DONE => FromWorker::Done { task: r.u32()?, payload: r.rest() },
            FAILED => FromWorker::Failed(String::from_utf8_lossy(r.rest()).into_owned()),
            PONG => FromWorker::Pong(r.rest()),
            tag => return Err(WireError(format!("unknown message tag {tag} from a worker"))),
        };
        r.end()?;
        Ok(msg)
    }
}

/// Starts a `Done` frame in `out` (cleared) whose payload the caller appends; [`finish_done`]
/// fills the length in. Lets a worker write results straight after the header, with no copy.
pub fn start_done(out: &mut Vec<u8>, task: u32) {
    out.clear();
    out.extend_from_slice(&[0; LEN_BYTES]);
    out.push(DONE);
    put_u32(out, task);
}

/// Completes a frame begun by [`start_done`]; `Err` when the payload made it too long.
pub fn finish_done(out: &mut [u8]) -> Result<(), WireError> {
    put_len(out)
}

/// The body length announced at the front of `buf`, once its four bytes are there.
pub fn body_len(buf: &[u8]) -> Result<Option<usize>, WireError> {
    let Some(head) = buf.get(..LEN_BYTES) else { return Ok(None) };
    let len = u32::from_le_bytes(head.try_into().expect("four bytes"));
    match usize::try_from(len) {
        Ok(len) if (1..=MAX_FRAME).contains(&len) => Ok(Some(len)),
        _ => Err(WireError(format!("frame length {len} is out of range (1..={MAX_FRAME})"))),
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError(format!("needed {n} more bytes, {} left", self.0.len())));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("four bytes")))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("eight bytes")))
    }
    fn string(&mut self) -> Result<String, WireError> {
        let n = self.u32()?;
        let n = usize::try_from(n)
            .ok()
            .filter(|n| *n <= MAX_STRING)
            .ok_or_else(|| WireError(format!("a string of {n} bytes, more than {MAX_STRING}")))?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| WireError("a string is not UTF-8".into()))
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
    fn end(&self) -> Result<(), WireError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(WireError(format!("{} bytes left over", self.0.len())))
        }
    }
}

/// Plain values a payload or a shared region may hold: any bit pattern is a valid value.
///
/// # Safety
/// Implementors must have no padding and no invalid bit patterns.
pub unsafe trait Plain: Copy + Send + Sync + 'static {}
// SAFETY: primitive integers and floats have neither padding nor invalid bit patterns.
unsafe impl Plain for u8 {}
unsafe impl Plain for u32 {}
unsafe impl Plain for u64 {}
unsafe impl Plain for f64 {}

/// The raw bytes of `values`, for a payload.
pub fn as_bytes<T: Plain>(values: &[T]) -> &[u8] {
    // SAFETY: `T: Plain` has no padding, so every byte is initialised; u8 has alignment 1.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast(), std::mem::size_of_val(values)) }
}

/// Copies a payload into `out`; its length must match exactly.
pub fn copy_into<T: Plain>(payload: &[u8], out: &mut [T]) -> Result<(), String> {
    let want = std::mem::size_of_val(out);
    if payload.len() != want {
        return Err(format!("a worker sent {} bytes where {want} were expected", payload.len()));
    }
    // SAFETY: lengths match, `out` is writable and any bit pattern is a valid `T: Plain`; a
    // byte-wise copy needs no alignment of the (unaligned) receive buffer.
    unsafe { std::ptr::copy_nonoverlapping(payload.as_ptr(), out.as_mut_ptr().cast::<u8>(), want) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(frame: &[u8]) -> &[u8] {
        let len = body_len(frame).unwrap().unwrap();
        assert_eq!(frame.len(), LEN_BYTES + len, "one whole frame");
        &frame[LEN_BYTES..]
    }

    #[test]
    fn parent_messages_round_trip() {
        let mut params = Params::default();
        params.0.insert("max_iter".into(), ParamValue::Int(-5));
        params.0.insert("scalar".into(), ParamValue::Float(2.5));
        params.0.insert("simd".into(), ParamValue::Text("scalar".into()));
        let shared = SharedSpec { id: 9, path: "/proc/1/fd/7".into(), len: 4096 };
        for msg in [
            ToWorker::Setup(JobSpec {
                workload: "mandelbrot".into(),
                params,
                size: 800,
                seed: u64::MAX,
                shared: Some(shared),
            }),
            ToWorker::Setup(JobSpec {
                workload: "pi_monte_carlo".into(),
                params: Params::default(),
                size: 1,
                seed: 0,
                shared: None,
            }),
            ToWorker::Task { task: 3, range: 10..1 << 40 },
            ToWorker::Message { seq: 2, bytes: &[7; 9] },
            ToWorker::Message { seq: 0, bytes: &[] },
            ToWorker::Ping(&[1, 2, 3]),
            ToWorker::Ping(&[]),
        ] {
            let mut out = vec![];
            msg.encode(&mut out).unwrap();
            assert_eq!(ToWorker::decode(body(&out)).unwrap(), msg);
        }
    }

    #[test]
    fn worker_messages_round_trip() {
        for msg in [
            FromWorker::Hello { protocol: PROTOCOL, pid: 77 },
            FromWorker::Ready,
            FromWorker::Done { task: 5, payload: &[9; 17] },
            FromWorker::Done { task: 0, payload: &[] },
            FromWorker::Failed("no such workload `x`".into()),
            FromWorker::Pong(&[4, 5]),
        ] {
            let mut out = vec![];
            msg.encode(&mut out).unwrap();
            assert_eq!(FromWorker::decode(body(&out)).unwrap(), msg);
        }
    }

    #[test]
    fn done_written_in_place_matches_encode() {
        let mut direct = vec![];
        start_done(&mut direct, 4);
        assert_eq!(direct.len(), DONE_HEADER);
        direct.extend_from_slice(as_bytes(&[1.5f64, -2.0]));
        finish_done(&mut direct).unwrap();
        let mut encoded = vec![];
        FromWorker::Done { task: 4, payload: as_bytes(&[1.5f64, -2.0]) }.encode(&mut encoded).unwrap();
        assert_eq!(direct, encoded);
        let mut back = [0f64; 2];
        let FromWorker::Done { payload, .. } = FromWorker::decode(body(&direct)).unwrap() else { panic!() };
        copy_into(payload, &mut back).unwrap();
        assert_eq!(back, [1.5, -2.0]);
        assert!(copy_into(payload, &mut [0f64; 3]).is_err());
    }

    #[test]
    fn garbage_is_rejected_not_trusted() {
        assert!(FromWorker::decode(&[]).is_err());
        assert!(FromWorker::decode(&[99]).is_err());
        assert!(FromWorker::decode(&[HELLO, 1, 0]).is_err(), "truncated");
        assert!(FromWorker::decode(&[READY, 0]).is_err(), "trailing bytes");
        assert!(ToWorker::decode(&[TASK, 1, 2, 3]).is_err());
        assert!(ToWorker::decode(&[SETUP, 255, 255, 255, 255]).is_err(), "string longer than the frame");
        assert_eq!(body_len(&[1, 0]), Ok(None), "length not complete yet");
        assert!(body_len(&[0, 0, 0, 0]).is_err());
        assert!(body_len(&[255, 255, 255, 255]).is_err());
    }

    #[test]
    fn lengths_off_the_wire_are_bounded() {
        // The largest frame is accepted, one byte more is not.
        assert_eq!(body_len(&(MAX_FRAME as u32).to_le_bytes()), Ok(Some(MAX_FRAME)));
        assert!(body_len(&(MAX_FRAME as u32 + 1).to_le_bytes()).is_err());
        // A string length past MAX_STRING is refused before anything is read or allocated.
        let mut setup = vec![SETUP];
        setup.extend_from_slice(&(MAX_STRING as u32 + 1).to_le_bytes());
        setup.extend(std::iter::repeat_n(b'a', MAX_STRING + 1));
        let e = ToWorker::decode(&setup).unwrap_err();
        assert!(e.0.contains("more than"), "{e:?}");
        // So is a parameter count past MAX_PARAMS.
        let mut setup = vec![SETUP];
        setup.extend_from_slice(&1u32.to_le_bytes());
        setup.push(b'x');
        setup.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(ToWorker::decode(&setup).unwrap_err().0.contains("parameters"));
        // And a task range that runs backwards.
        let mut task = vec![TASK];
        task.extend_from_slice(&0u32.to_le_bytes());
        task.extend_from_slice(&9u64.to_le_bytes());
        task.extend_from_slice(&3u64.to_le_bytes());
        assert!(ToWorker::decode(&task).unwrap_err().0.contains("backwards"));
    }

    #[test]
    fn an_overlong_frame_is_refused_not_truncated() {
        // A frame's length is never cast down: a body over the limit is an error.
        let mut frame = vec![0u8; LEN_BYTES + 11];
        assert!(put_len_within(&mut frame, 10).unwrap_err().0.contains("longer than a frame"));
        assert_eq!(frame[..LEN_BYTES], [0; LEN_BYTES], "nothing written");
        put_len_within(&mut frame, 11).unwrap();
        assert_eq!(body_len(&frame), Ok(Some(11)));
        // A failure message is cut to fit instead.
        let mut out = vec![];
        FromWorker::Failed("x".repeat(MAX_FAILURE + 10)).encode(&mut out).unwrap();
        assert_eq!(out.len(), LEN_BYTES + 1 + MAX_FAILURE);
    }
}
