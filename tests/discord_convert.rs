//! The adapter's pure conversions: Discord interaction JSON → `Invocation`, `Reply` → wire JSON
//! (snapshotted, and validated against the Discord contract), and the registered commands.

#[path = "support/contract.rs"]
mod contract;
#[path = "support/fake_discord.rs"]
mod fake_discord;

use contract::Exchange;
use fake_discord::fixtures::{self, Who, CHANNEL, GUILD, MANAGE_GUILD, MEMBER_PERMS};
use fake_discord::{check_interaction_response, discord_contract, API};
use serde_json::{json, Value};
use serenity::all::Interaction;
use soe_bot::commands::{
    Ack, Action, ButtonStyle, Choice, Component, Embed, MessageRef, Modal, OptionValue, Origin,
    Reply, TextInput,
};
use soe_bot::discord::convert::{self, Finish};
use soe_bot::discord::registration::{command_definitions, registration_payload};

fn parse(v: &Value) -> Interaction {
    serde_json::from_value(v.clone())
        .unwrap_or_else(|e| panic!("fixture does not parse: {e}\n{v:#}"))
}

fn wire(r: &impl serde::Serialize) -> Value {
    serde_json::to_value(r).unwrap()
}

/// Validates a request body the bot sends on `METHOD route`.
fn check_request(method: &str, route: &str, path: &str, body: &Value) {
    let path = format!("{API}{path}");
    let r = discord_contract().check_exchange(&Exchange {
        method,
        route,
        path: &path,
        query: &[],
        body: Some(body),
        status: 200,
        content_type: None,
        response: None,
        malformed: false,
    });
    // Only the request side matters here: drop complaints about the made-up response.
    let errors: Vec<String> = r
        .err()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| !e.contains("response"))
        .collect();
    assert!(errors.is_empty(), "{method} {route}: {errors:#?}\n{body:#}");
}

// ------------------------------------------------------------------ interactions in

#[test]
fn a_slash_command_becomes_an_invocation_with_member_permissions_roles_and_options() {
    let id = fixtures::snowflake();
    let who = Who::member(42, "jane").nick("Jane D").roles(&[7, 8]);
    let data = fixtures::so(
        "search",
        vec![
            fixtures::opt("query", "tokio timeout"),
            fixtures::opt("tag", "rust"),
            fixtures::opt("sort", "newest"),
        ],
    );
    let inv = convert::invocation_from(&parse(&fixtures::envelope(id, 2, data, &who)))
        .expect("an invocation");
    assert_eq!(inv.id, id.to_string());
    assert_eq!(inv.member.id, 42);
    assert_eq!(
        inv.member.name, "Jane D",
        "the guild nickname is the display name"
    );
    assert_eq!(inv.member.permissions, Some(MEMBER_PERMS));
    assert_eq!(
        inv.member.role_ids,
        vec![7, 8],
        "admin roles are matched by id"
    );
    assert_eq!(inv.guild_id, Some(GUILD));
    assert_eq!(inv.channel_id, Some(CHANNEL));
    assert_eq!(inv.locale.as_deref(), Some("en-US"));
    assert_eq!(
        inv.action,
        Action::Command {
            name: "so".into(),
            path: vec!["search".into()],
            options: vec![
                ("query".into(), OptionValue::Str("tokio timeout".into())),
                ("tag".into(), OptionValue::Str("rust".into())),
                ("sort".into(), OptionValue::Str("newest".into())),
            ],
        }
    );
}

#[test]
fn a_subcommand_group_gives_the_full_path_and_a_channel_option() {
    let who = Who::admin(1, "admin");
    let v = fixtures::envelope(
        fixtures::snowflake(),
        2,
        fixtures::so_admin_channel("disable", Some(555)),
        &who,
    );
    let inv = convert::invocation_from(&parse(&v)).unwrap();
    assert_eq!(inv.member.permissions, Some(MEMBER_PERMS | MANAGE_GUILD));
    assert_eq!(
        inv.action,
        Action::Command {
            name: "so-admin".into(),
            path: vec!["channel".into(), "disable".into()],
            options: vec![("channel".into(), OptionValue::Channel(555))],
        }
    );
}

#[test]
fn a_dm_has_no_guild_and_no_permissions() {
    let who = Who::admin(5, "dm-user").in_dm();
    let v = fixtures::envelope(fixtures::snowflake(), 2, fixtures::so("help", vec![]), &who);
    let inv = convert::invocation_from(&parse(&v)).unwrap();
    assert_eq!(inv.guild_id, None);
    assert_eq!(
        inv.member.permissions, None,
        "no member object in a DM: nothing to trust"
    );
    assert_eq!(inv.member.id, 5);
    assert_eq!(inv.member.name, "dm-user");
}

#[test]
fn autocomplete_carries_the_focused_option_and_its_path() {
    let v = fixtures::envelope(
        fixtures::snowflake(),
        4,
        fixtures::autocomplete("search", "tag", "ru"),
        &Who::member(1, "a"),
    );
    let inv = convert::invocation_from(&parse(&v)).unwrap();
    assert_eq!(
        inv.action,
        Action::Autocomplete {
            name: "so".into(),
            path: vec!["search".into()],
            focused: "tag".into(),
            value: "ru".into()
        }
    );
}

#[test]
fn a_button_in_a_thread_says_so() {
    let who = Who::member(9, "sam");
    let mut b = fixtures::with_message(fixtures::envelope(
        fixtures::snowflake(),
        3,
        fixtures::button("so:qs:3"),
        &who,
    ));
    let plain = convert::invocation_from(&parse(&b)).unwrap();
    assert!(!plain.in_thread && plain.thread_parent.is_none());
    // 11: a public thread (10 announcement, 12 private threads); its parent gates it.
    for kind in [10, 11, 12] {
        b["channel"] = json!({"id": CHANNEL.to_string(), "type": kind, "parent_id": "1"});
        let inv = convert::invocation_from(&parse(&b)).unwrap();
        assert!(inv.in_thread, "{kind}");
        assert_eq!(inv.thread_parent, Some(1), "{kind}");
    }
}

#[test]
fn buttons_modals_and_message_commands_convert() {
    let who = Who::member(9, "sam");
    let b = fixtures::with_message(fixtures::envelope(
        fixtures::snowflake(),
        3,
        fixtures::button("so:q:3"),
        &who,
    ));
    assert_eq!(
        convert::invocation_from(&parse(&b)).unwrap().action,
        Action::Button {
            custom_id: "so:q:3".into()
        }
    );

    let m = fixtures::envelope(
        fixtures::snowflake(),
        5,
        fixtures::modal("so:m:ask:abc", &[("title", "T"), ("body", "B")]),
        &who,
    );
    assert_eq!(
        convert::invocation_from(&parse(&m)).unwrap().action,
        Action::Modal {
            custom_id: "so:m:ask:abc".into(),
            fields: vec![("title".into(), "T".into()), ("body".into(), "B".into())]
        }
    );

    let data = fixtures::message_command("Ask on Stack Overflow", 9, "sam", "How do I X?\nDetails");
    let mid = data["target_id"].as_str().unwrap().parse::<u64>().unwrap();
    let mut c = fixtures::envelope(fixtures::snowflake(), 2, data, &who);
    assert_eq!(
        convert::invocation_from(&parse(&c)).unwrap().action,
        Action::MessageCommand {
            name: "Ask on Stack Overflow".into(),
            message: MessageRef {
                id: mid,
                author_id: 9,
                author_name: "sam".into(),
                content: "How do I X?\nDetails".into(),
                thread_name: None,
                replies_to: None,
            },
        }
    );
    // In a thread (a forum post is a public thread), the thread's name comes along.
    c["channel"] =
        json!({"id": CHANNEL.to_string(), "type": 11, "parent_id": "1", "name": "Forum title"});
    let Action::MessageCommand { message, .. } =
        convert::invocation_from(&parse(&c)).unwrap().action
    else {
        panic!("a message command")
    };
    assert_eq!(message.thread_name.as_deref(), Some("Forum title"));

    // A reply to the bot's question card: the card's ids and links come along, and it counts
    // as the bot's only when its author is the application's bot user.
    let card_id = fixtures::snowflake();
    let mut card = fixtures::message(card_id, fixtures::APP_ID, "soe-bot", "");
    card["author"]["bot"] = json!(true);
    card["components"] = json!([{"type": 1, "components": [
        {"type": 2, "style": 2, "custom_id": "so:an:42", "label": "Answer"},
        {"type": 2, "style": 5, "url": "https://soe.example/questions/42/x", "label": "View on site"}]}]);
    card["embeds"] =
        json!([{"type": "rich", "title": "Q", "url": "https://soe.example/questions/42/x"}]);
    let replied_to = |card: &Value| {
        let mut c = c.clone();
        let target = &mut c["data"]["resolved"]["messages"][mid.to_string()];
        target["referenced_message"] = card.clone();
        target["message_reference"] =
            json!({"message_id": card_id.to_string(), "channel_id": CHANNEL.to_string()});
        let Action::MessageCommand { message, .. } =
            convert::invocation_from(&parse(&c)).unwrap().action
        else {
            panic!("a message command")
        };
        message.replies_to.expect("the replied message comes along")
    };
    let replied = replied_to(&card);
    assert_eq!(
        replied,
        soe_bot::commands::invocation::RepliedMessage {
            id: card_id,
            from_bot: true,
            custom_ids: vec!["so:an:42".into()],
            links: vec![
                "https://soe.example/questions/42/x".into(),
                "https://soe.example/questions/42/x".into()
            ],
        }
    );
    assert_eq!(replied.card_question(), Some(42));
    // Another bot's (or a member's) message is not the bot's card.
    card["author"]["id"] = json!("9");
    assert!(!replied_to(&card).from_bot);
    assert_eq!(replied_to(&card).card_question(), None);
}

#[test]
fn pings_other_menus_and_unresolved_messages_are_not_invocations() {
    assert_eq!(convert::invocation_from(&parse(&fixtures::ping())), None);
    let who = Who::member(1, "a");
    // A string select is a choice; the other select kinds (users, roles…) the bot never sends.
    let select = fixtures::with_message(fixtures::envelope(
        fixtures::snowflake(),
        3,
        json!({"custom_id": "so:pa:3", "component_type": 3, "values": ["15"]}),
        &who,
    ));
    assert_eq!(
        convert::invocation_from(&parse(&select)).map(|i| i.action),
        Some(Action::Select {
            custom_id: "so:pa:3".into(),
            values: vec!["15".into()],
        })
    );
    let users = fixtures::with_message(fixtures::envelope(
        fixtures::snowflake(),
        3,
        json!({"custom_id": "x", "component_type": 5, "values": ["1"], "resolved": {}}),
        &who,
    ));
    assert_eq!(convert::invocation_from(&parse(&users)), None);
    let mut data = fixtures::message_command("Post as answer", 1, "a", "text");
    data["resolved"] = json!({});
    assert_eq!(
        convert::invocation_from(&parse(&fixtures::envelope(
            fixtures::snowflake(),
            2,
            data,
            &who
        ))),
        None
    );
}

#[test]
fn the_origin_says_whether_the_guilds_own_install_carried_the_interaction() {
    let help = || fixtures::so("help", vec![]);
    let origin = |who: &Who| {
        convert::invocation_from(&parse(&fixtures::envelope(
            fixtures::snowflake(),
            2,
            help(),
            who,
        )))
        .unwrap()
        .origin
    };
    assert_eq!(origin(&Who::member(1, "a")), Origin::GuildInstall);
    assert_eq!(
        origin(&Who::member(1, "a").in_guild(77)),
        Origin::GuildInstall,
        "another guild's install: the guild list judges it"
    );
    assert_eq!(origin(&Who::member(1, "a").in_dm()), Origin::Private);
    assert_eq!(
        origin(&Who::member(1, "a").user_installed()),
        Origin::Private,
        "a personal install inside a server counts as private"
    );
    // A component interaction carries the same information.
    let button = fixtures::with_message(fixtures::envelope(
        fixtures::snowflake(),
        3,
        fixtures::button("so:x"),
        &Who::member(1, "a").user_installed(),
    ));
    assert_eq!(
        convert::invocation_from(&parse(&button)).unwrap().origin,
        Origin::Private
    );
    // Installed by guild 5 but invoked in guild 6: not this guild's install.
    let mut v = fixtures::envelope(fixtures::snowflake(), 2, help(), &Who::member(1, "a"));
    v["authorizing_integration_owners"] = json!({"0": "5"});
    v["guild_id"] = json!("6");
    assert_eq!(
        convert::invocation_from(&parse(&v)).unwrap().origin,
        Origin::Private
    );
    // A group DM (context 2) is private even if a guild id were present.
    let mut v = fixtures::envelope(fixtures::snowflake(), 2, help(), &Who::member(1, "a"));
    v["context"] = json!(2);
    assert_eq!(
        convert::invocation_from(&parse(&v)).unwrap().origin,
        Origin::Private
    );
}

// ------------------------------------------------------------------ replies out

fn card() -> Embed {
    Embed::new("How do I @everyone?", "Body with <@123> and <@&456>")
        .url(Some("https://soe.example/questions/3".into()))
        .field("Score", "5", true)
        .footer("Acme Stack Overflow")
        .color(0xf48024)
}

fn buttons() -> Vec<Component> {
    vec![
        Component::button("so:vq:3:u", "Upvote", ButtonStyle::Success),
        Component::button("so:an:3", "Answer", ButtonStyle::Primary),
        Component::link("https://soe.example/questions/3", "View on site"),
    ]
}

/// Every interaction response must validate as a callback body and allow no mentions.
fn checked(response: &serenity::all::CreateInteractionResponse) -> Value {
    let v = wire(response);
    if let Err(e) = check_interaction_response(&v) {
        panic!("not a valid interaction response: {e:#?}\n{v:#}");
    }
    if let Some(m) = v.pointer("/data/allowed_mentions") {
        assert_eq!(m["parse"], json!([]), "{v:#}");
        assert!(m.get("users").is_none_or(|u| u == &json!([])));
        assert!(m.get("roles").is_none_or(|u| u == &json!([])));
    }
    v
}

#[test]
fn a_public_message_reply() {
    let reply = Reply::public("Shared by Jane @everyone").with_embed(card());
    let v = checked(&convert::interaction_response(&reply, false));
    assert_eq!(v["type"], 4);
    assert!(
        v["data"].get("flags").is_none(),
        "public: no ephemeral flag"
    );
    assert!(
        v["data"].get("allowed_mentions").is_some(),
        "mentions always suppressed"
    );
    insta::assert_json_snapshot!("message", v);
}

#[test]
fn an_ephemeral_message_with_buttons() {
    let reply = Reply::private("Only you see this")
        .with_embed(card())
        .with_row(buttons());
    let v = checked(&convert::interaction_response(&reply, false));
    assert_eq!(v["type"], 4);
    assert_eq!(v["data"]["flags"], 64);
    assert_eq!(
        v["data"]["components"][0]["components"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    insta::assert_json_snapshot!("ephemeral_with_buttons", v);
}

#[test]
fn an_update_of_the_components_message() {
    let reply = Reply::update("").with_embed(card()).with_row(buttons());
    let v = checked(&convert::interaction_response(&reply, true));
    assert_eq!(v["type"], 7);
    assert!(
        v["data"].get("flags").is_none(),
        "an update cannot change visibility"
    );
    assert_eq!(v["data"]["content"], "", "old content is cleared");
    insta::assert_json_snapshot!("update", v);
    // Outside a component there is no message to update: a new message instead.
    assert_eq!(
        wire(&convert::interaction_response(&reply, false))["type"],
        4
    );
}

#[test]
fn a_modal() {
    let modal = Modal {
        id: "so:m:ask:AbCdEf0123456789".into(),
        title: "Ask on Acme Stack Overflow".into(),
        inputs: vec![
            TextInput::new("title", "Title", false)
                .length(15, 150)
                .value(Some("How do I X?")),
            TextInput::new("body", "Body (Markdown)", true)
                .length(30, 4000)
                .placeholder("What did you try?"),
            TextInput::new("tags", "Tags", false).optional(),
        ],
    };
    let v = checked(&convert::interaction_response(&Reply::modal(modal), false));
    assert_eq!(v["type"], 9);
    assert_eq!(
        v["data"]["components"].as_array().unwrap().len(),
        3,
        "one action row per input"
    );
    assert_eq!(
        v["data"]["components"][1]["components"][0]["style"], 2,
        "paragraph"
    );
    insta::assert_json_snapshot!("modal", v);
}

#[test]
fn autocomplete_choices() {
    let reply = Reply::choices(vec![
        Choice {
            name: "rust (120)".into(),
            value: "rust".into(),
        },
        Choice {
            name: "rust-async (12)".into(),
            value: "rust-async".into(),
        },
    ]);
    let v = checked(&convert::interaction_response(&reply, false));
    assert_eq!(v["type"], 8);
    insta::assert_json_snapshot!("choices", v);
}

#[test]
fn defers() {
    let private = checked(&convert::defer_response(Ack::DeferEphemeral).unwrap());
    assert_eq!(
        (private["type"].clone(), private["data"]["flags"].clone()),
        (json!(5), json!(64))
    );
    let public = checked(&convert::defer_response(Ack::DeferPublic).unwrap());
    assert_eq!(public["type"], 5);
    assert!(public["data"].get("flags").is_none());
    let update = checked(&convert::defer_response(Ack::DeferUpdate).unwrap());
    assert_eq!(update["type"], 6);
    assert!(convert::defer_response(Ack::Immediate).is_none());
    insta::assert_json_snapshot!(
        "defer",
        json!({"ephemeral": private, "public": public, "update": update})
    );
}

#[test]
fn edits_follow_ups_and_dms_validate_and_allow_no_mentions() {
    let reply = Reply::private("Posted as *Jane* @here")
        .with_embed(card())
        .with_row(buttons());
    let edit = wire(&convert::edit_response(&reply));
    check_request(
        "PATCH",
        fake_discord::ORIGINAL_ROUTE,
        "/webhooks/1/tok/messages/@original",
        &edit,
    );
    assert_eq!(edit["allowed_mentions"]["parse"], json!([]));
    let follow = wire(&convert::followup(&reply));
    check_request(
        "POST",
        fake_discord::FOLLOWUP_ROUTE,
        "/webhooks/1/tok",
        &follow,
    );
    assert_eq!(follow["flags"], 64);
    let dm = wire(&convert::channel_message(&reply));
    check_request(
        "POST",
        fake_discord::MESSAGES_ROUTE,
        "/channels/5/messages",
        &dm,
    );
    assert!(dm.get("flags").is_none(), "DMs carry no ephemeral flag");
    assert_eq!(dm["allowed_mentions"]["parse"], json!([]));
}

#[test]
fn finishing_a_defer_keeps_public_and_private_apart() {
    let private = Reply::private("error");
    let public = Reply::public("shared");
    let update = Reply::update("page 2");
    assert!(matches!(
        convert::finish_plan(Ack::DeferEphemeral, &private, Some(1)),
        Finish::Edit(_)
    ));
    assert!(matches!(
        convert::finish_plan(Ack::DeferPublic, &public, Some(1)),
        Finish::Edit(_)
    ));
    assert!(
        matches!(
            convert::finish_plan(Ack::DeferPublic, &private, Some(1)),
            Finish::ReplaceWithPrivate(_)
        ),
        "a private answer must not be edited into the public placeholder"
    );
    assert!(matches!(
        convert::finish_plan(Ack::DeferUpdate, &update, Some(1)),
        Finish::Edit(_)
    ));
    assert!(
        matches!(
            convert::finish_plan(Ack::DeferUpdate, &private, Some(1)),
            Finish::Followup(_)
        ),
        "an error must not replace the results the button was on"
    );
    // A public card that replies to a message (issue 10, part 4) goes out as a channel
    // message with a reference, which the contract (from the official document) accepts.
    let mut card = Reply::public("").with_embed(Embed::new("Why?", "Asked by **Jane**"));
    card.reply_to = Some(555);
    let Finish::ReplyInChannel { message, fallback } =
        convert::finish_plan(Ack::DeferPublic, &card, Some(10))
    else {
        panic!("a channel reply")
    };
    let body = wire(&message);
    assert_eq!(body["message_reference"]["message_id"], "555", "{body:#}");
    assert_eq!(body["message_reference"]["fail_if_not_exists"], false);
    assert_eq!(body["allowed_mentions"]["parse"], json!([]));
    assert_eq!(
        discord_contract().validate("MessageCreateRequest", &body),
        Ok(()),
        "{body:#}"
    );
    assert!(wire(&fallback)["embeds"][0]["title"] == "Why?");
    // Without a channel it is an edit of the placeholder, reference dropped.
    assert!(matches!(
        convert::finish_plan(Ack::DeferPublic, &card, None),
        Finish::Edit(_)
    ));
    // A modal can no longer be shown after a defer: it degrades to a message.
    let modal = Reply::modal(Modal {
        id: "so:m:ask:x".into(),
        title: "t".into(),
        inputs: vec![],
    });
    let Finish::Edit(e) = convert::finish_plan(Ack::DeferEphemeral, &modal, Some(1)) else {
        panic!("an edit")
    };
    assert!(wire(&e)["content"]
        .as_str()
        .unwrap()
        .contains("Run the command again"));
}

#[test]
fn the_contract_declares_exactly_the_routes_the_bot_uses() {
    let mut declared: Vec<String> = discord_contract()
        .operation_keys()
        .map(String::from)
        .collect();
    declared.sort();
    let mut used: Vec<String> = [
        ("PUT", fake_discord::GLOBAL_COMMANDS_ROUTE),
        ("PUT", fake_discord::GUILD_COMMANDS_ROUTE),
        ("POST", fake_discord::CALLBACK_ROUTE),
        ("PATCH", fake_discord::ORIGINAL_ROUTE),
        ("DELETE", fake_discord::ORIGINAL_ROUTE),
        ("POST", fake_discord::FOLLOWUP_ROUTE),
        ("POST", fake_discord::DM_ROUTE),
        ("POST", fake_discord::MESSAGES_ROUTE),
        ("GET", fake_discord::MEMBER_ROUTE),
        ("DELETE", fake_discord::LEAVE_GUILD_ROUTE),
        ("GET", fake_discord::GATEWAY_ROUTE),
        ("GET", fake_discord::CHANNEL_ROUTE),
        ("GET", fake_discord::MESSAGES_ROUTE),
        ("GET", fake_discord::MESSAGE_ROUTE),
        ("GET", fake_discord::ROLES_ROUTE),
        ("GET", fake_discord::ME_ROUTE),
        ("PATCH", fake_discord::MESSAGE_ROUTE),
        ("POST", fake_discord::THREADS_ROUTE),
    ]
    .iter()
    .map(|(m, r)| format!("{m} {r}"))
    .collect();
    used.sort();
    assert_eq!(declared, used);
    // The official "4XX" range is expanded for the checker: a 403 with an error body is valid.
    let path = format!("{API}/users/@me/channels");
    let answer = json!({"code": 50007, "message": "Cannot send messages to this user"});
    let ex = Exchange {
        method: "POST",
        route: fake_discord::DM_ROUTE,
        path: &path,
        query: &[],
        body: Some(&json!({"recipient_id": "42"})),
        status: 403,
        content_type: Some("application/json"),
        response: Some(&answer),
        malformed: false,
    };
    assert_eq!(discord_contract().check_exchange(&ex), Ok(()));
    let bad = json!({"recipient_id": 42});
    assert!(
        discord_contract()
            .check_exchange(&Exchange {
                body: Some(&bad),
                ..ex
            })
            .is_err(),
        "snowflakes are strings"
    );
}

// ------------------------------------------------------------------ registration

#[test]
fn the_registered_commands() {
    let body = registration_payload(&command_definitions(false, "Acme Stack Overflow")).unwrap();
    check_request(
        "PUT",
        fake_discord::GLOBAL_COMMANDS_ROUTE,
        "/applications/1/commands",
        &body,
    );
    let cmds = body.as_array().unwrap();
    let names: Vec<&str> = cmds.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "so",
            "so-admin",
            "Ask on Acme Stack Overflow",
            "Post as answer",
            // "Save thread to Acme Stack Overflow" is over Discord's 32 characters.
            "Save thread"
        ]
    );

    let so = &cmds[0];
    let subs: Vec<&str> = so["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        subs,
        [
            "search", "question", "ask", "answer", "link", "unlink", "me", "alerts", "experts",
            "help"
        ]
    );
    // `/so alerts on [tags]|off` and `/so experts on|off` are subcommand groups.
    let alerts = &so["options"][7];
    assert_eq!(alerts["type"], 2);
    assert_eq!(alerts["options"][0]["name"], "on");
    assert_eq!(alerts["options"][0]["options"][0]["name"], "tags");
    assert_eq!(alerts["options"][1]["name"], "off");
    assert_eq!(so["options"][8]["options"][1]["name"], "off");
    let search = &so["options"][0]["options"];
    assert_eq!(search[0]["name"], "query");
    assert_eq!(search[0]["max_length"], 80);
    assert_eq!(search[0]["required"], true);
    assert_eq!(search[1]["autocomplete"], true, "tag autocompletes");
    assert_eq!(
        search[1]["max_length"], 35,
        "a tag is at most SOE's 35 characters"
    );
    let sorts: Vec<&str> = search[2]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    assert_eq!(sorts, ["relevance", "newest", "active", "score"]);
    assert_eq!(
        so["options"][2]["options"][1]["autocomplete"], true,
        "ask tags autocomplete"
    );
    assert!(
        so.get("default_member_permissions").is_none(),
        "member commands are for everyone"
    );
    assert_eq!(so["integration_types"], json!([0]), "guild install only");
    assert_eq!(
        so["contexts"],
        json!([0]),
        "servers only while discord.allow_dms is off"
    );

    let admin = &cmds[1];
    assert_eq!(
        admin["default_member_permissions"],
        json!(32),
        "MANAGE_GUILD, as the integer the spec types"
    );
    assert_eq!(admin["dm_permission"], false);
    assert_eq!(admin["contexts"], json!([0]), "guild only");
    assert_eq!(admin["options"][0]["type"], 2, "subcommand group");
    let verbs: Vec<&str> = admin["options"][0]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(verbs, ["enable", "disable", "team", "cards", "tags"]);
    for verb in [0, 1, 2, 4] {
        assert_eq!(
            admin["options"][0]["options"][verb]["options"][0]["type"], 7,
            "a channel option first"
        );
    }
    // Issue 10, part 4: `channel cards state:on|off [channel]`, the required option first.
    let cards = &admin["options"][0]["options"][3]["options"];
    assert_eq!(cards[0]["name"], "state");
    assert_eq!(cards[0]["required"], true);
    let states: Vec<&str> = cards[0]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["value"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["on", "off"]);
    assert_eq!(cards[1]["type"], 7);
    assert_eq!(cards[1]["channel_types"], json!([0, 5, 15]));
    // Text, announcement and forum channels can be picked (issue 10, part 9).
    assert_eq!(
        admin["options"][0]["options"][0]["options"][0]["channel_types"],
        json!([0, 5, 15])
    );
    let subs: Vec<&str> = admin["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        subs,
        [
            "channel",
            "subscribe",
            "subscriptions",
            "unsubscribe",
            "preview",
            "doctor",
            "audit-channel"
        ]
    );
    assert_eq!(
        admin["options"][6]["options"][0]["type"], 7,
        "audit channel"
    );
    assert_eq!(admin["options"][6]["options"][1]["type"], 5, "off: boolean");

    assert_eq!(admin["integration_types"], json!([0]));

    for m in &cmds[2..] {
        assert_eq!(m["type"], 3, "message command");
        assert_eq!(m["integration_types"], json!([0]));
        assert_eq!(m["contexts"], json!([0]));
    }
    insta::assert_json_snapshot!("commands", body);
}

/// Every `name_localizations` and `description_localizations` map in `v`, with where it is.
fn localizations<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a str, &'a Value)>) {
    match v {
        Value::Object(m) => {
            for (k, inner) in m {
                if k == "name_localizations" || k == "description_localizations" {
                    out.push((
                        at.clone(),
                        if k.starts_with("name") {
                            "name"
                        } else {
                            "description"
                        },
                        inner,
                    ));
                }
                localizations(inner, format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                localizations(inner, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Issue 10, part 10: the commands are described in German too (`de`), the message commands
/// are named in German, and every translation is for a locale Discord knows (the contract's
/// `AvailableLocalesEnum`, from the official document) and within Discord's limits (the
/// contract check in `the_registered_commands` holds them to 32 and 100 characters).
#[test]
fn commands_are_localised_for_german_within_discords_locales() {
    let body = registration_payload(&command_definitions(false, "Acme Stack Overflow")).unwrap();
    let contract: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/contract/discord-api-v10.contract.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let locales: Vec<&str> = contract["schemas"]["AvailableLocalesEnum"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["const"].as_str().unwrap())
        .collect();
    assert!(locales.contains(&"de"), "{locales:?}");
    let mut found = Vec::new();
    localizations(&body, String::new(), &mut found);
    let mut german = 0;
    for (at, kind, map) in &found {
        for (locale, text) in map.as_object().unwrap() {
            assert!(
                locales.contains(&locale.as_str()),
                "{at}: {locale} is not a Discord locale"
            );
            let text = text.as_str().unwrap();
            let max = if *kind == "name" && !at.contains("choices") {
                32
            } else {
                100
            };
            assert!(
                (1..=max).contains(&text.chars().count()),
                "{at}: {locale} {kind} {text:?}"
            );
            german += usize::from(locale == "de");
        }
    }
    assert!(german >= 55, "most texts are translated: {german}");
    let cmds = body.as_array().unwrap();
    assert_eq!(
        cmds[0]["description_localizations"]["de"],
        "Auf Acme Stack Overflow suchen, lesen, fragen und antworten"
    );
    assert_eq!(
        cmds[2]["name_localizations"]["de"],
        "Auf Acme Stack Overflow fragen"
    );
    assert_eq!(cmds[3]["name_localizations"]["de"], "Als Antwort posten");
    // The names members type stay as they are: chat-input names are not localised.
    assert_eq!(cmds[0]["name_localizations"], json!({}));
    let sort = &cmds[0]["options"][0]["options"][2]["choices"][0];
    assert_eq!(sort["value"], "relevance", "the value the use case reads");
    assert_eq!(sort["name_localizations"]["de"], "Relevanz");
}

#[test]
fn with_allow_dms_the_member_commands_are_offered_in_the_bots_dms_and_admin_stays_in_servers() {
    let body = registration_payload(&command_definitions(true, "Acme Stack Overflow")).unwrap();
    check_request(
        "PUT",
        fake_discord::GLOBAL_COMMANDS_ROUTE,
        "/applications/1/commands",
        &body,
    );
    let cmds = body.as_array().unwrap();
    for (i, c) in cmds.iter().enumerate() {
        assert_eq!(c["integration_types"], json!([0]), "{}", c["name"]);
        let contexts = if i == 1 { json!([0]) } else { json!([0, 1]) };
        assert_eq!(c["contexts"], contexts, "{}", c["name"]);
    }
    assert_eq!(cmds[1]["name"], "so-admin");
    // Everything else is the same as without DMs.
    let mut without =
        registration_payload(&command_definitions(false, "Acme Stack Overflow")).unwrap();
    let mut with = body.clone();
    for list in [&mut without, &mut with] {
        for c in list.as_array_mut().unwrap() {
            c.as_object_mut().unwrap().remove("contexts");
        }
    }
    assert_eq!(with, without);
}
