//! Who the flow is about (`pending_user` / `pending_user_avatar` of the "with user info"
//! challenges), with a way out when it is the wrong person.

use leptos::prelude::*;

use crate::protocol::PendingUserInfo;
use crate::ui::flow::FlowState;
use crate::ui::links::{avatar_src, restart_via_cancel};

/// Nothing for anonymous challenges (`pending_user` is empty).
#[component]
pub fn PendingUser(user: PendingUserInfo, flow: FlowState) -> impl IntoView {
    (!user.pending_user.is_empty()).then(|| {
        let not_you = restart_via_cancel(&flow.slug, &flow.query);
        view! {
            <div class="pending-user" data-testid="pending-user">
                <img src=avatar_src(&user.pending_user_avatar) alt="" width="32" height="32"/>
                <span class="pending-user-name">{user.pending_user}</span>
                <a class="pending-user-switch" href=not_you rel="external">
                    "Not you?"
                </a>
            </div>
        }
    })
}
