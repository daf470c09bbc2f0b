//! `--redis`: every chat process publishes the messages posted on it to one Redis
//! channel and adds what arrives on the channel to its own buffer, so long-poll and
//! WebSocket users on every process share one room.
//!
//! A message is added where it is posted at once (its users see it without a round trip
//! to Redis) and published; other processes add it when Redis delivers it. Ids carry
//! the process that made them, so they never collide, and a message that comes back
//! from the channel (our own publication, or one we already have) is not added twice.
//! What comes from the channel is bounded as what is posted here: a body over
//! `MAX_BODY` is dropped, and a message is marked foreign in the cache itself (nothing
//! is remembered beyond the cache). Redis replies are bounded to [`MAX_REPLY`].
//! While Redis is unreachable each process keeps serving its own users; the client
//! reconnects with back-off and renews the subscription.

use squall::redis::{Redis, RedisOptions, Subscriber};
use squall::web::escape_html;
use squall::Handle;

use super::super::{Buffer, Message, MAX_BODY};

/// The channel every process of the room publishes to.
pub const CHANNEL: &str = "squall-chat";
/// Largest reply (a message from the channel) read from Redis: a body of `MAX_BODY`
/// bytes JSON-escaped (up to 6 bytes each) and its id, with room to spare.
pub const MAX_REPLY: usize = 1024 * 1024;

/// The Redis side of the room.
pub struct Bus {
    redis: Redis,
    _subscriber: Subscriber,
}

impl Bus {
    /// Connects (in the background: messages flow once Redis answers).
    pub fn connect(handle: &Handle, url: &str, buf: &Buffer) -> squall::Result<Bus> {
        let options = RedisOptions::default().max_reply_bytes(MAX_REPLY);
        let redis = Redis::connect(handle, url, options.clone())?;
        let subscriber = Subscriber::connect(handle, url, options)?;
        let b = buf.clone();
        subscriber.on_message(move |_, payload| receive(&b, &payload));
        subscriber
            .subscribe(CHANNEL)
            .add_done_callback(|f| match f.result() {
                Some(Ok(())) => log::info!("redis: subscribed to {CHANNEL}"),
                other => log::warn!("redis: subscribe: {other:?}"),
            });
        Ok(Bus {
            redis,
            _subscriber: subscriber,
        })
    }

    /// Publishes the messages of this process among `new` (the pump's latest batch).
    pub fn publish_local(&self, new: &[Message]) {
        for m in new {
            if m.foreign {
                continue;
            }
            let json = serde_json::json!({ "id": m.id, "body": m.body }).to_string();
            self.redis.publish(CHANNEL, json).add_done_callback(|f| {
                if let Some(Err(e)) = f.result() {
                    log::warn!("redis: publish failed: {e}");
                }
            });
        }
    }
}

/// Adds a message from the channel unless it is known. Its HTML is made here from its
/// body: nothing on the bus is trusted to be escaped.
fn receive(buf: &Buffer, payload: &[u8]) {
    let parsed: Option<(String, String)> = serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| {
            Some((
                v.get("id")?.as_str()?.to_owned(),
                v.get("body")?.as_str()?.to_owned(),
            ))
        });
    let Some((id, body)) = parsed else {
        log::warn!("redis: ignored a malformed message on {CHANNEL}");
        return;
    };
    if body.len() > MAX_BODY {
        log::warn!(
            "redis: ignored a message of {} bytes on {CHANNEL}",
            body.len()
        );
        return;
    }
    let mut b = buf.borrow_mut();
    if b.cache.iter().any(|m| m.id == id) {
        return; // ours, back from the channel
    }
    let html = format!(
        "<div class=\"message\" id=\"m{}\">{}</div>\n",
        escape_html(&id),
        escape_html(&body)
    );
    b.push(Message {
        id,
        body,
        html,
        foreign: true,
    });
}
