//! The worker protocol: each message is a 4-byte little-endian length and a postcard body.
//! The parent sends `Run` and then one `Reply` per `Call`; the worker ends each job with `Done`.

use std::io::{self, Read, Write};

use monty_types::MontyObject;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::exec::JobSpec;
use super::{HostCall, HostReply, SandboxError};

/// Largest message either side accepts: more than any expression's inputs or result, and a
/// bound on what a hostile worker can make the server allocate.
pub(crate) const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    Run(Box<JobSpec>),
    Reply(HostReply),
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromWorker {
    Call(HostCall),
    Done(Result<MontyObject, SandboxError>),
}

fn encode<T: Serialize>(message: &T) -> io::Result<Vec<u8>> {
    let body = postcard::to_stdvec(message).map_err(io::Error::other)?;
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(io::Error::other(format!(
            "message of {} bytes is over the {MAX_MESSAGE_BYTES}-byte limit",
            body.len()
        )));
    }
    let mut frame = Vec::with_capacity(body.len() + 4);
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

fn body_len(header: [u8; 4]) -> io::Result<usize> {
    let len = u32::from_le_bytes(header) as usize;
    if len > MAX_MESSAGE_BYTES {
        return Err(io::Error::other(format!(
            "message of {len} bytes is over the {MAX_MESSAGE_BYTES}-byte limit"
        )));
    }
    Ok(len)
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> io::Result<T> {
    postcard::from_bytes(body).map_err(io::Error::other)
}

/// Blocking write (worker side).
pub(crate) fn write_sync<T: Serialize>(out: &mut impl Write, message: &T) -> io::Result<()> {
    out.write_all(&encode(message)?)?;
    out.flush()
}

/// Blocking read (worker side); `Ok(None)` at a clean end of input.
pub(crate) fn read_sync<T: DeserializeOwned>(input: &mut impl Read) -> io::Result<Option<T>> {
    let mut header = [0u8; 4];
    match input.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut body = vec![0u8; body_len(header)?];
    input.read_exact(&mut body)?;
    decode(&body).map(Some)
}

/// Async write (parent side).
pub(crate) async fn write<T: Serialize>(
    out: &mut (impl AsyncWrite + Unpin),
    message: &T,
) -> io::Result<()> {
    out.write_all(&encode(message)?).await?;
    out.flush().await
}

/// Async read (parent side). Not cancel-safe: a cancelled read leaves the stream mid-frame, so
/// the caller discards the worker.
pub(crate) async fn read<T: DeserializeOwned>(
    input: &mut (impl AsyncRead + Unpin),
) -> io::Result<T> {
    let mut header = [0u8; 4];
    input.read_exact(&mut header).await?;
    let mut body = vec![0u8; body_len(header)?];
    input.read_exact(&mut body).await?;
    decode(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_survive_a_round_trip() {
        let call = FromWorker::Call(HostCall {
            function: "ak_user_by".into(),
            args: vec![MontyObject::String("x".into()), MontyObject::None],
            kwargs: vec![(MontyObject::String("k".into()), MontyObject::Int(3))],
        });
        let mut buffer = Vec::new();
        write_sync(&mut buffer, &call).unwrap();
        let back: FromWorker = read_sync(&mut buffer.as_slice()).unwrap().unwrap();
        assert_eq!(format!("{back:?}"), format!("{call:?}"));
        let empty: Option<FromWorker> = read_sync(&mut &[][..]).unwrap();
        assert!(empty.is_none());
    }

    #[test]
    fn an_oversized_length_is_refused_before_allocating() {
        let header = (u32::MAX).to_le_bytes();
        let result: io::Result<Option<FromWorker>> = read_sync(&mut &header[..]);
        assert!(result.is_err());
    }
}
