//! Calls to hosts users type in (an Azure "Endpoint", an OpenAI-compatible "API host"):
//! https only, no user info, and only public addresses, checked on the URL before sending
//! and on the resolved addresses when connecting (SPEC §11). `KEYHOLD_OUTBOUND_ALLOW`
//! names the exceptions.

mod address;
mod allow;
mod guard;
mod resolver;

pub use address::is_public;
pub use allow::{AllowEntryError, Dest, OutboundAllow, allowed};
pub use guard::{HostField, HostRefusal, check_url};
pub use resolver::{
    Admit, OutboundClient, OutboundError, PinnedResolver, admit_addrs, guarded_client, refusal_in,
};
