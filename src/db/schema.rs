//! The one schema both backends share (see migrations/sqlite and migrations/postgres).

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        name -> Text,
        password_hash -> Text,
        is_admin -> Bool,
        disabled -> Bool,
        session_epoch -> BigInt,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    workspaces (id) {
        id -> Text,
        slug -> Text,
        name -> Text,
        allowance_tokens -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    memberships (workspace_id, user_id) {
        workspace_id -> Text,
        user_id -> Text,
        role -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    invitations (id) {
        id -> Text,
        workspace_id -> Text,
        email -> Text,
        role -> Text,
        token_hash -> Text,
        invited_by -> Nullable<Text>,
        created_at -> BigInt,
        expires_at -> BigInt,
        accepted_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    password_resets (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Nullable<Text>,
        state -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        at -> BigInt,
        actor_id -> Nullable<Text>,
        actor_email -> Nullable<Text>,
        ip -> Nullable<Text>,
        workspace_id -> Nullable<Text>,
        action -> Text,
        target -> Nullable<Text>,
        details -> Text,
        prev_hash -> Text,
        hash -> Text,
        key_version -> Nullable<Text>,
        mac -> Nullable<Text>,
    }
}

diesel::table! {
    audit_chain (id) {
        id -> Integer,
        last_id -> BigInt,
        last_hash -> Text,
        key_version -> Nullable<Text>,
        legacy_until -> Nullable<BigInt>,
        sealed_at -> Nullable<BigInt>,
        mac -> Nullable<Text>,
    }
}

diesel::table! {
    audit_checkpoint (id) {
        id -> Integer,
        verified_id -> BigInt,
        verified_hash -> Text,
        verified_at -> BigInt,
        swept_id -> BigInt,
        key_version -> Text,
        mac -> Text,
        checked_at -> BigInt,
        outcome -> Text,
        outcome_id -> BigInt,
        problem -> Text,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        to_addr -> Text,
        to_name -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        created_at -> BigInt,
        attempts -> Integer,
        next_attempt_at -> BigInt,
        locked_until -> Nullable<BigInt>,
        sent_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    throttle (key) {
        key -> Text,
        account -> Nullable<Text>,
        failures -> Integer,
        last_failure -> BigInt,
        blocked_until -> BigInt,
    }
}

diesel::table! {
    mail_limits (key) {
        key -> Text,
        sent -> Integer,
        window_start -> BigInt,
    }
}

diesel::table! {
    provider_settings (provider) {
        provider -> Text,
        enabled -> Bool,
        byok_enabled -> Bool,
        failure_policy -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    provider_keys (id) {
        id -> Text,
        scope -> Text,
        workspace_id -> Nullable<Text>,
        provider -> Text,
        label -> Text,
        priority -> Integer,
        sealed -> Nullable<Binary>,
        master_key_id -> Nullable<Text>,
        mask -> Text,
        fingerprint -> Text,
        status -> Text,
        last_tested_at -> Nullable<BigInt>,
        last_test_result -> Nullable<Text>,
        last_used_at -> Nullable<BigInt>,
        created_by -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        removed_at -> Nullable<BigInt>,
        removed_by -> Nullable<Text>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        workspace_id -> Text,
        name -> Text,
        token_hash -> Text,
        prefix -> Text,
        created_by -> Nullable<Text>,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        revoked_by -> Nullable<Text>,
    }
}

diesel::table! {
    usage_events (id) {
        id -> Text,
        at -> BigInt,
        workspace_id -> Text,
        token_id -> Nullable<Text>,
        user_id -> Nullable<Text>,
        provider -> Text,
        model -> Text,
        source -> Text,
        key_id -> Nullable<Text>,
        status -> Integer,
        error_code -> Nullable<Text>,
        latency_ms -> BigInt,
        prompt_tokens -> BigInt,
        completion_tokens -> BigInt,
    }
}

diesel::table! {
    usage_daily (workspace_id, day, provider, source) {
        workspace_id -> Text,
        day -> BigInt,
        provider -> Text,
        source -> Text,
        requests -> BigInt,
        errors -> BigInt,
        tokens -> BigInt,
        latency_ms -> BigInt,
    }
}

diesel::table! {
    chat_messages (id) {
        id -> Text,
        workspace_id -> Text,
        user_id -> Text,
        role -> Text,
        content -> Text,
        model -> Nullable<Text>,
        source -> Nullable<Text>,
        error -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    cache_epoch (id) {
        id -> Integer,
        version -> BigInt,
    }
}

diesel::table! {
    model_prices (provider, model) {
        provider -> Text,
        model -> Text,
        input_micros -> BigInt,
        output_micros -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    usage_model_daily (workspace_id, day, provider, model, source) {
        workspace_id -> Text,
        day -> BigInt,
        provider -> Text,
        model -> Text,
        source -> Text,
        requests -> BigInt,
        input_tokens -> BigInt,
        output_tokens -> BigInt,
    }
}

diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(memberships -> workspaces (workspace_id));
diesel::joinable!(invitations -> workspaces (workspace_id));
diesel::joinable!(password_resets -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    workspaces,
    memberships,
    invitations,
    password_resets,
    sessions,
    settings,
    audit_checkpoint,
    audit_events,
    audit_chain,
    outbox,
    throttle,
    mail_limits,
    provider_settings,
    provider_keys,
    api_tokens,
    usage_events,
    usage_daily,
    chat_messages,
    cache_epoch,
    model_prices,
    usage_model_daily,
);
