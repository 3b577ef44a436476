//! Every string the console and portal show, in two tables: Simplified Chinese (zh-CN, the
//! default) and English. Templates and handlers take their words only from here, so a
//! translation is complete when this file compiles: each key is written once with both
//! languages side by side. Strings with `{0}` take one argument (see [`fill`]).
//!
//! The language comes from `?lang=` (which also sets the `openpile_lang` cookie), else from the
//! cookie, else zh-CN.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri};
use openpile_core::network::{Registration, StationStatus};
use openpile_core::operator::OperatorRole;
use openpile_core::status::ConnectorStatus;
use openpile_core::tariff::PeriodLabel;

use crate::cookie;

/// The cookie that remembers the language (Path=/, shared by console and portal).
pub(crate) const LANG_COOKIE: &str = "openpile_lang";

/// A language the interface speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    /// The BCP 47 tag, for `<html lang>` and the cookie.
    pub fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }

    /// Reads a language tag loosely (`zh`, `zh-CN`, `zh-Hans`, `en`, `en-US`, …).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        if s == "zh" || s.starts_with("zh-") || s.starts_with("zh_") {
            Some(Self::Zh)
        } else if s == "en" || s.starts_with("en-") || s.starts_with("en_") {
            Some(Self::En)
        } else {
            None
        }
    }

    pub fn messages(self) -> &'static Messages {
        match self {
            Self::Zh => &ZH,
            Self::En => &EN,
        }
    }

    pub fn other(self) -> Self {
        match self {
            Self::Zh => Self::En,
            Self::En => Self::Zh,
        }
    }

    /// The `lang` query parameter of a URI query string, if it names a language.
    pub(crate) fn from_query(query: Option<&str>) -> Option<Self> {
        query?
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "lang")
            .and_then(|(_, v)| Self::parse(v))
    }

    /// The language of a request: `?lang=`, then the cookie, then zh-CN.
    pub(crate) fn of_request(uri: &Uri, headers: &HeaderMap) -> Self {
        Self::from_query(uri.query())
            .or_else(|| cookie::get(headers, LANG_COOKIE).and_then(|v| Self::parse(&v)))
            .unwrap_or_default()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of_request(&parts.uri, &parts.headers))
    }
}

/// Replaces `{0}` in a message with `arg`.
pub fn fill(message: &str, arg: impl std::fmt::Display) -> String {
    message.replace("{0}", &arg.to_string())
}

/// Replaces `{0}`, `{1}`, … in a message with `args`.
pub fn fill_all(message: &str, args: &[&dyn std::fmt::Display]) -> String {
    args.iter()
        .enumerate()
        .fold(message.to_owned(), |m, (i, a)| {
            m.replace(&format!("{{{i}}}"), &a.to_string())
        })
}

macro_rules! messages {
    ($($key:ident: $zh:literal, $en:literal;)*) => {
        /// One language's strings; see the module docs.
        #[derive(Debug)]
        pub struct Messages {
            $(pub $key: &'static str,)*
        }

        /// 简体中文 (the default).
        pub static ZH: Messages = Messages { $($key: $zh,)* };

        /// English.
        pub static EN: Messages = Messages { $($key: $en,)* };

        #[cfg(test)]
        pub(crate) fn all_pairs() -> Vec<(&'static str, &'static str, &'static str)> {
            vec![$((stringify!($key), $zh, $en),)*]
        }
    };
}

messages! {
    // Frame
    app_name: "OpenPile 运营控制台", "OpenPile console";
    skip_to_content: "跳到正文", "Skip to content";
    nav_label: "主导航", "Main navigation";
    other_language: "English", "中文";
    logout: "退出登录", "Log out";
    footer: "OpenPile · 充电运营开放平台", "OpenPile · open platform for charge point operators";
    nav_dashboard: "总览", "Dashboard";
    nav_stations: "充电站", "Stations";
    nav_tariffs: "电价", "Tariffs";
    nav_applications: "合作方申请", "Applications";
    nav_partners: "合作方", "Partners";
    nav_sessions: "充电订单", "Sessions";
    nav_statements: "对账结算", "Statements";
    nav_audit: "审计日志", "Audit log";

    // Login
    login_title: "登录", "Log in";
    email: "邮箱", "E-mail";
    password: "密码", "Password";
    login_submit: "登录", "Log in";
    login_failed: "邮箱或密码不正确。", "Wrong e-mail or password.";
    login_locked: "登录失败次数过多，该账号已锁定，请于 {0} 后再试。", "Too many failed logins: this account is locked until {0}.";
    login_form_expired: "登录表单已过期，请重新输入。", "The login form expired; please enter your details again.";
    login_email_invalid: "请输入有效的邮箱地址。", "Enter a valid e-mail address.";
    session_expired: "登录已过期，请重新登录后继续。", "Your session has expired; log in to continue.";
    logged_out: "您已退出登录。", "You have logged out.";

    // Roles
    role_admin: "管理员", "Administrator";
    role_reviewer: "审核员", "Reviewer";
    role_operations: "运维", "Operations";
    role_finance: "财务", "Finance";

    // Live status
    live_on: "实时更新中", "Live";
    live_off: "未连接实时更新", "Not live";
    live_lost: "实时连接中断，正在重连…", "Live connection lost, reconnecting…";
    status: "状态", "Status";
    status_available: "空闲", "Available";
    status_occupied: "占用（未充电）", "Occupied";
    status_charging: "充电中", "Charging";
    status_reserved: "已预约", "Reserved";
    status_unavailable: "停用", "Unavailable";
    status_faulted: "故障", "Faulted";
    status_offline: "离线", "Offline";
    online: "在线", "Online";
    offline: "离线", "Offline";

    // Dashboard and network
    chargers: "充电桩", "Chargers";
    charger: "充电桩", "Charger";
    chargers_online: "在线充电桩", "Chargers online";
    chargers_offline: "离线充电桩", "Chargers offline";
    connectors: "充电枪", "Connectors";
    connectors_by_station: "各站充电枪状态", "Connector status by station";
    station: "充电站", "Station";
    station_id: "站点编号", "Station ID";
    name: "名称", "Name";
    address: "地址", "Address";
    district: "区县", "District";
    opening_hours: "营业时间", "Opening hours";
    service_phone: "服务电话", "Service phone";
    station_status: "运营状态", "Operating status";
    station_planned: "规划中", "Planned";
    station_operational: "运营中", "Operational";
    station_maintenance: "维护中", "Maintenance";
    station_closed: "已关闭", "Closed";
    sandbox: "沙箱", "Sandbox";
    tariff: "电价", "Tariff";
    no_stations: "还没有充电站。", "No stations yet.";
    no_chargers: "该站还没有充电桩。", "This station has no chargers yet.";
    charger_id: "桩编号", "Charger ID";
    connection: "连接", "Connection";
    last_seen: "最近通信", "Last seen";
    last_boot: "最近启动", "Last boot";
    never: "从未", "Never";
    vendor_model: "厂商 / 型号", "Vendor / model";
    serial: "序列号", "Serial number";
    firmware: "固件", "Firmware";
    max_power: "最大功率", "Maximum power";
    registration: "注册状态", "Registration";
    registration_provisioned: "已登记，未上线", "Provisioned, never booted";
    registration_registered: "已注册", "Registered";
    registration_disabled: "已停用", "Disabled";
    connector_no: "枪号", "Connector";
    connector_id: "枪编号", "Connector ID";
    standard: "接口标准", "Standard";
    not_set: "—", "—";

    // Remote commands and OCPP password
    remote_commands: "远程指令", "Remote commands";
    cmd_reset: "重启", "Reset";
    cmd_unlock: "解锁充电枪", "Unlock connector";
    cmd_availability: "更改可用性", "Change availability";
    cmd_trigger_status: "请求上报状态", "Trigger status report";
    reset_kind: "重启方式", "Kind of reset";
    reset_soft: "软重启", "Soft";
    reset_hard: "硬重启", "Hard";
    whole_charger: "整桩", "Whole charger";
    availability: "可用性", "Availability";
    operative: "可用", "Operative";
    inoperative: "停用", "Inoperative";
    cmd_accepted: "充电桩已接受：{0}", "The charger accepted: {0}";
    cmd_refused: "充电桩未接受：{0}", "The charger did not accept: {0}";
    cmd_offline: "充电桩未连接，指令未发送。", "The charger is not connected; nothing was sent.";
    cmd_timeout: "充电桩未在规定时间内应答。", "The charger did not answer in time.";
    cmd_call_error: "充电桩返回错误：{0}", "The charger answered with an error: {0}";
    cmd_not_booted: "充电桩尚未完成启动注册（BootNotification），不能接收该指令。", "The charger has not completed BootNotification yet and cannot take this command.";
    cmd_bad_connector: "请选择该桩上的一个充电枪。", "Choose a connector of this charger.";
    back_to_charger: "返回充电桩", "Back to the charger";
    ocpp_password: "OCPP 密码", "OCPP password";
    password_set: "已设置", "Set";
    password_not_set: "未设置（无法连接）", "Not set (cannot connect)";
    password_reset: "重置 OCPP 密码", "Reset OCPP password";
    password_reset_hint: "生成新密码后旧密码立即失效，需在充电桩上配置新密码。", "The old password stops working at once; the new one must be configured on the charger.";
    password_shown_once: "新密码仅显示这一次，请立即复制并妥善保存。", "This password is shown only once: copy it now and keep it safe.";
    new_password: "新密码", "New password";
    password_next_steps: "在充电桩配置中将 AuthorizationKey 设为此密码（HTTP Basic 认证）。", "Set the charger's AuthorizationKey to this password (HTTP Basic authentication).";

    // Tariffs
    no_tariffs: "还没有电价。", "No tariffs yet.";
    tariff_id: "电价编号", "Tariff ID";
    tariff_new: "新建电价", "New tariff";
    tariff_new_version: "新建版本", "New version";
    tariff_new_heading: "新建电价", "New tariff";
    tariff_new_version_heading: "{0} 的新版本", "New version of {0}";
    latest_version: "最新版本", "Latest version";
    version: "版本", "Version";
    effective_from: "生效时间", "Effective from";
    segments: "分时时段", "Time-of-use segments";
    segments_hint: "时段须无重叠地覆盖全天 00:00–24:00；结束早于开始表示跨过午夜。空行会被忽略。价格单位：元/千瓦时，最多 4 位小数。", "Segments must cover the whole day 00:00–24:00 exactly once; an end before the start runs past midnight. Empty rows are ignored. Prices in CNY per kWh, up to 4 decimals.";
    seg_start: "开始", "Start";
    seg_end: "结束", "End";
    seg_label: "时段类型", "Period";
    seg_electricity: "电费", "Electricity";
    seg_service: "服务费", "Service";
    period_none: "（无）", "(none)";
    period_sharp: "尖", "Sharp";
    period_peak: "峰", "Peak";
    period_flat: "平", "Flat";
    period_valley: "谷", "Valley";
    idle_fee: "占位费", "Idle fee";
    idle_fee_value: "每分钟 {0} 元，免费 {1} 分钟", "{0} CNY per minute after {1} free minutes";
    idle_price: "占位费（元/分钟，可空）", "Idle fee (CNY per minute, optional)";
    idle_grace: "免费占位时长（分钟）", "Grace period (minutes)";
    add_row: "添加一行", "Add a row";
    save_version: "保存版本", "Save version";
    in_force: "生效中", "In force";
    scheduled: "待生效", "Scheduled";
    version_saved: "已保存版本 v{0}。", "Version v{0} saved.";
    form_has_errors: "表单有错误，请修改标出的字段。", "The form has errors; correct the marked fields.";
    err_required: "必填。", "Required.";
    err_time_format: "请使用 HH:MM 格式的时间（00:00–24:00）。", "Use a time HH:MM (00:00–24:00).";
    err_datetime_format: "请输入日期和时间。", "Enter a date and time.";
    err_effective_past: "生效时间须晚于当前时间。", "Must be in the future.";
    err_effective_before: "须晚于上一版本的生效时间 {0}。", "Must be after the previous version's start, {0}.";
    err_price_number: "请输入数字，例如 0.8500。", "Enter a number such as 0.8500.";
    err_price_negative: "不能为负数。", "Must not be negative.";
    err_price_scale: "最多 4 位小数。", "At most 4 decimal places.";
    err_price_high: "价格过高（超过 1000 元）。", "Implausibly high (over 1000 CNY).";
    err_grace: "请输入 0 到 1440 之间的整数分钟数。", "Enter whole minutes from 0 to 1440.";
    err_idle_incomplete: "设置占位费时须同时填写价格和免费时长。", "An idle fee needs both a price and a grace period.";
    err_tariff_name: "名称须为 1 到 50 个字符。", "Must be 1 to 50 characters.";
    err_tariff_id: "编号须为 1 到 36 个字母、数字或 - _ .", "Use 1 to 36 letters, digits, '-', '_' or '.'.";
    err_tariff_exists: "该编号已存在。", "This ID is already taken.";
    err_segments_empty: "至少需要一个时段。", "At least one segment is required.";
    err_segments_gap: "时段未覆盖全天：{0} 没有价格。", "The segments leave {0} without a price.";
    err_segment_overlap: "该时段与其他时段重叠，或开始与结束相同。", "This segment overlaps another, or starts where it ends.";
    err_segment_start: "开始时间须早于 24:00。", "Must start before 24:00.";
    err_version_conflict: "其他人刚刚保存了该电价的新版本，请重新打开表单。", "Someone else just saved a version of this tariff; open the form again.";
    err_invalid: "无效。", "Invalid.";

    // Partner applications (console)
    app_all: "全部", "All";
    app_pending: "待审核", "Pending";
    app_approved: "已通过", "Approved";
    app_rejected: "未通过", "Rejected";
    app_filter: "按状态筛选", "Filter by status";
    app_done_approved: "已批准该申请，合作方已获得生产环境凭证。", "Application approved; the partner has a production credential.";
    app_done_rejected: "已驳回该申请，申请方将看到您填写的原因。", "Application rejected; the applicant will see your reason.";
    no_applications: "没有符合条件的申请。", "No applications here.";
    revision: "版本", "Revision";
    updated_at: "更新时间", "Updated";
    created_at: "创建时间", "Created";
    changed: "已修改", "changed";
    decide: "审核", "Decision";
    approve: "批准", "Approve";
    reject: "驳回", "Reject";
    reject_reason: "驳回原因（申请方可见）", "Reason (shown to the applicant)";
    reject_hint: "请写明需要修改的内容，申请方可据此修改后重新提交。", "Say what must change; the applicant can correct the application and resubmit.";
    decisions: "审核记录", "Decisions";
    earlier_revisions: "历史版本", "Earlier revisions";
    contract_stations: "可用站点", "Stations";
    contract_revenue_share: "分成比例", "Revenue share";
    contract_rate_limit: "限流（次/秒）", "Rate limit (requests/s)";
    contract_burst: "突发上限", "Burst";
    contract_cycle: "结算周期", "Settlement cycle";
    contract_scopes: "接口权限", "API scopes";
    cycle_daily: "按日", "Daily";
    cycle_weekly: "按周", "Weekly";
    cycle_monthly: "按月", "Monthly";
    scope_all_stations: "全部站点", "All stations";
    scope_listed_stations: "指定站点", "Listed stations";
    station_ids: "站点编号（逗号或换行分隔）", "Station IDs (comma or line separated)";
    err_station_ids: "以下站点编号不存在或无效：{0}", "These station IDs are unknown or invalid: {0}";
    err_station_ids_empty: "请至少填写一个站点编号，或选择全部站点。", "Name at least one station, or choose all stations.";
    err_revenue_share: "请输入 0 到 1 之间的小数，最多 4 位小数。", "Enter a fraction from 0 to 1 with up to 4 decimals.";
    err_rate_limit: "限流与突发上限须为 1 到 1000000 之间的整数。", "Rate limit and burst must be whole numbers from 1 to 1000000.";
    err_scopes: "请至少选择一项接口权限。", "Choose at least one scope.";

    // console: revenue share per fee (approval form, partner page)
    share_legend: "合作方分成比例（按费用）", "Partner's share, per fee";
    share_hint: "合作方从每项费用中所得的比例，0 到 1 之间的小数，最多 4 位小数（0.10 即 10%），其余归运营商。", "What the partner keeps of each fee: a fraction from 0 to 1 with up to 4 decimals (0.10 is 10 %); the operator gets the rest.";
    share_electricity: "电费分成", "Share of electricity fees";
    share_service: "服务费分成", "Share of service fees";
    share_idle: "占位费分成", "Share of idle fees";
    err_share_required: "请填写该项分成比例（不分成请填 0）。", "Enter this share (0 for none).";
    terms_title: "分成条款", "Revenue-share terms";
    terms_hint: "每笔充电按其开始时生效的条款结算。", "Each session is settled under the terms in force when it started.";
    terms_from: "生效时间", "Effective from";
    terms_from_approval: "批准时（合同）", "Approval (contract)";
    terms_in_force: "现行", "In force";
    terms_scheduled: "待生效", "Scheduled";
    terms_superseded: "已被取代", "Superseded";
    err_reason: "请填写原因（最多 2000 字）。", "Give a reason (up to 2000 characters).";
    err_application_changed: "该申请刚刚被修改或审核，请刷新后重试。", "The application changed meanwhile; reload it and try again.";
    err_application_decided: "该申请已审核，不能再次审核。", "This application has been decided already.";

    // Application form fields (portal and console)
    f_company_name: "公司名称", "Company name";
    f_unified_social_credit_code: "统一社会信用代码", "Unified social credit code";
    f_legal_representative: "法定代表人", "Legal representative";
    f_contact_name: "联系人", "Contact person";
    f_mobile: "手机号", "Mobile";
    f_email: "邮箱（登录账号）", "E-mail (your login)";
    f_website: "网站", "Website";
    f_intended_use: "用途说明", "Intended use";
    f_expected_monthly_volume: "预计月充电订单数", "Expected charging sessions per month";
    f_callback_base_url: "回调地址", "Callback base URL";
    hint_company_name: "与营业执照一致，最多 100 字。", "As on the business licence, up to 100 characters.";
    hint_uscc: "营业执照上的 18 位代码。", "The 18-character code on the business licence.";
    hint_name_50: "最多 50 字。", "Up to 50 characters.";
    hint_url: "以 https:// 开头。", "Starting with https://.";
    hint_mobile: "中国大陆手机号，可加 +86。", "A mainland China mobile number, +86 optional.";
    hint_email: "用于登录和接收审核通知。", "For signing in and review notices.";
    hint_intended_use: "您的平台如何使用充电站和充电服务，最多 2000 字。", "How your platform will use our stations and charging, up to 2000 characters.";
    hint_volume: "整数，用于容量规划。", "A whole number, for capacity planning.";
    hint_callback: "我们推送事件的基础地址（https，不含用户名密码和 #）。", "Where we send events (https, no credentials, no #).";
    hint_password: "至少 12 个字符。", "At least 12 characters.";
    hint_password_confirm: "再次输入密码。", "Type the password again.";
    password_confirm: "确认密码", "Confirm password";
    optional: "（选填）", "(optional)";
    err_company_name: "请填写公司名称（最多 100 字）。", "Enter the company name (up to 100 characters).";
    err_uscc: "统一社会信用代码应为 18 位，且校验位正确。", "A unified social credit code has 18 characters and a valid check character.";
    err_legal_representative: "请填写法定代表人（最多 50 字）。", "Enter the legal representative (up to 50 characters).";
    err_contact_name: "请填写联系人（最多 50 字）。", "Enter a contact person (up to 50 characters).";
    err_mobile: "请填写中国大陆手机号：11 位，以 13–19 开头，可加 +86。", "Enter a mainland China mobile number: 11 digits starting 13–19, +86 optional.";
    err_email: "请填写有效的邮箱地址。", "Enter a valid e-mail address.";
    err_website: "请填写以 http:// 或 https:// 开头的网址，或留空。", "Enter an http:// or https:// address, or leave it empty.";
    err_intended_use: "请说明用途（最多 2000 字）。", "Describe the intended use (up to 2000 characters).";
    err_volume: "请填写 0 到 100000000 之间的整数。", "Enter a whole number from 0 to 100000000.";
    err_callback_url: "请填写以 http:// 或 https:// 开头的地址，不含用户名密码和 #。", "Enter an http:// or https:// address without credentials or #.";
    err_password_short: "密码至少 12 个字符，最多 256 个。", "The password needs 12 to 256 characters.";
    err_password_mismatch: "两次输入的密码不一致。", "The passwords differ.";
    err_email_taken: "该邮箱已注册，请直接登录。", "This e-mail already has an account; sign in instead.";
    err_email_fixed: "邮箱是登录账号，不能在此修改。", "The e-mail is your login and cannot be changed here.";
    err_uscc_taken: "该公司已提交过申请，请登录后修改原申请。", "This company has applied already; sign in and correct that application.";
    err_application_closed: "申请已通过，不能再修改。", "The application has been approved and can no longer be changed.";

    // Partner portal
    portal_name: "OpenPile 合作方门户", "OpenPile partner portal";
    portal_partner: "合作方", "Partner";
    portal_welcome: "接入 OpenPile 充电网络", "Join the OpenPile charging network";
    portal_intro: "提交合作申请后即可获得沙箱凭证，用模拟充电站开发对接；审核通过后获得生产环境凭证。", "Apply and get sandbox credentials at once to build against simulated stations; production credentials follow approval.";
    portal_apply: "提交合作申请", "Apply";
    portal_sign_in: "合作方登录", "Partner sign-in";
    portal_api_docs: "API 文档", "API documentation";
    portal_guide: "入门指南：docs/getting-started.md", "Getting started: docs/getting-started.md";
    portal_company: "公司信息", "Company";
    portal_contact: "联系人", "Contact";
    portal_integration: "接入信息", "Integration";
    portal_account: "登录账号", "Account";
    portal_submit: "提交申请", "Submit application";
    portal_resubmit: "修改并重新提交申请", "Correct and resubmit";
    portal_resubmit_submit: "重新提交", "Resubmit";
    portal_resubmitted: "已重新提交，等待审核。", "Resubmitted; it awaits review.";
    portal_applied: "申请已提交", "Application submitted";
    portal_applied_intro: "我们会尽快审核。现在就可以用下面的沙箱凭证对接模拟充电站。", "We will review it soon. Meanwhile, use these sandbox credentials against simulated stations.";
    portal_continue: "进入合作方门户", "Go to the portal";
    portal_application_status: "申请状态", "Application";
    portal_account_status: "账户状态", "Account";
    portal_suspended: "账户已暂停：", "Account suspended:";
    portal_contract: "合同条款", "Contract";
    portal_correct: "修改申请", "Correct the application";
    portal_stations: "可用充电站（实时状态）", "Your stations (live status)";
    portal_messages: "消息", "Messages";
    reviewer_reason: "审核意见", "Reviewer's reason";
    partner_applicant: "申请中（仅沙箱）", "Applicant (sandbox only)";
    partner_active: "已开通", "Active";
    partner_suspended: "已暂停", "Suspended";
    credentials: "接口凭证", "Credentials";
    environment: "环境", "Environment";
    env_sandbox: "沙箱", "Sandbox";
    env_production: "生产", "Production";
    scopes: "权限", "Scopes";
    secret_id: "密钥编号", "Secret ID";
    secret_live: "有效", "Valid";
    secret_expires_at: "有效至 {0}", "Valid until {0}";
    secret_expired_at: "已于 {0} 过期", "Expired {0}";
    secret_revoked_at: "已于 {0} 吊销", "Revoked {0}";
    secret_issue: "生成密钥", "Issue a secret";
    secret_rotate: "轮换密钥", "Rotate secret";
    secret_new: "新密钥", "New secret";
    secret_new_intro: "新密钥已生成。旧密钥在宽限期内仍可使用，请尽快更新您的系统。", "A new secret was issued. The previous one keeps working for a grace period; update your systems soon.";
    secret_shown_once: "密钥仅显示这一次，我们只保存其摘要。请立即复制并妥善保存。", "The secret is shown only this once; we keep only its digest. Copy it now and keep it safe.";
    secret_revoked_notice: "密钥已吊销，使用它签发的令牌已全部失效。", "The secret is revoked, with every token issued with it.";
    previous_secret: "旧密钥", "Previous secret";
    previous_secret_until: "仍可使用至", "keeps working until";
    no_secret_yet: "尚未生成密钥。", "No secret yet.";
    revoke: "吊销", "Revoke";
    subject: "主题", "Subject";

    // console: operator screens (session 2)
    nav_cdrs: "充电记录（CDR）", "CDRs";
    ops_all: "全部", "All";
    ops_filters: "筛选", "Filters";
    ops_apply_filters: "筛选", "Apply filters";
    ops_clear_filters: "清除筛选", "Clear filters";
    ops_from: "开始日期", "From";
    ops_to: "结束日期", "To";
    ops_booked_from: "记账开始日期", "Booked from";
    ops_state: "状态", "State";
    ops_status: "状态", "Status";
    ops_partner: "合作方", "Partner";
    ops_partner_id: "合作方编号", "Partner ID";
    ops_email: "联系邮箱", "E-mail";
    ops_application: "申请编号", "Application";
    ops_order: "合作方订单号", "Partner order";
    ops_session: "充电订单", "Session";
    ops_connector: "充电枪", "Connector";
    ops_created: "创建时间", "Created";
    ops_started: "开始充电", "Started";
    ops_stopped: "结束充电", "Stopped";
    ops_booked: "记账时间", "Booked";
    ops_energy: "电量", "Energy";
    ops_power: "功率", "Power";
    ops_soc: "电池电量", "State of charge";
    ops_amount: "金额", "Amount";
    ops_total: "合计", "Total";
    ops_meter: "电表读数", "Meter";
    ops_stop_reason: "结束原因", "Stop reason";
    ops_review: "需人工核查", "Needs review";
    ops_meter_anomaly: "电表读数回退（复位或溢出），该段电量未计费。", "The meter register went down (reset or rollover); that energy was not billed.";
    ops_local_session: "本运营商用户（刷卡）", "Operator's own user (card)";
    ops_no_sessions: "没有符合条件的充电订单。", "No sessions match these filters.";
    ops_state_pending: "待启动", "Pending";
    ops_state_starting: "启动中", "Starting";
    ops_state_charging: "充电中", "Charging";
    ops_state_stopping: "停止中", "Stopping";
    ops_state_finishing: "收尾中", "Finishing";
    ops_state_completed: "已完成", "Completed";
    ops_state_failed: "失败", "Failed";
    ops_state_other: "其他", "Other";
    ops_view_cdr: "查看充电记录", "View the CDR";
    ops_view_session: "查看充电订单", "View the session";
    ops_view_partner: "查看合作方", "View the partner";
    ops_meter_curve: "电表曲线", "Meter curve";
    ops_chart_energy: "累计电量", "Energy delivered";
    ops_chart_power: "充电功率", "Charging power";
    ops_no_samples: "充电桩尚未上报电表数据。", "The charger has not reported meter values.";
    ops_samples: "电表数据", "Meter samples";
    ops_timeline: "时间线", "Timeline";
    ops_kind_command: "指令", "Command";
    ops_kind_charger: "充电桩", "Charger";
    ops_kind_state: "状态", "State";
    ops_kind_event: "事件", "Event";
    ops_step_requested: "合作方发起充电请求", "Session requested";
    ops_step_remote_start: "远程启动（RemoteStartTransaction）已被充电桩接受", "RemoteStartTransaction accepted by the charger";
    ops_step_remote_stop: "已发送远程停止（RemoteStopTransaction）", "RemoteStopTransaction sent";
    ops_step_start_tx: "充电桩上报开始交易（StartTransaction）", "Charger sent StartTransaction";
    ops_step_stop_tx: "充电桩上报结束交易（StopTransaction）", "Charger sent StopTransaction";
    ops_step_meter_values: "充电桩上报电表数据（MeterValues）", "Charger sent MeterValues";
    ops_cost: "费用", "Cost";
    ops_period: "时段", "Period";
    ops_tariff_period: "电价时段", "Tariff period";
    ops_tariff: "电价", "Tariff";
    ops_electricity_price: "电价（元/kWh）", "Electricity (CNY/kWh)";
    ops_service_price: "服务费（元/kWh）", "Service (CNY/kWh)";
    ops_electricity_fee: "电费", "Electricity fee";
    ops_service_fee: "服务费", "Service fee";
    ops_idle_fee: "占位费", "Idle fee";
    ops_fees: "费用明细", "Fees";
    ops_no_cdrs: "没有符合条件的充电记录。", "No CDRs match these filters.";
    ops_credit: "冲正", "Credit";
    ops_original_cdr: "原充电记录", "Original CDR";
    ops_priced_lines: "计费明细", "Priced lines";
    ops_credit_reason: "冲正原因", "Credit reason";
    ops_issued_by: "操作人", "Issued by";
    ops_issue_credit: "开具冲正记录", "Issue a credit CDR";
    ops_credit_amount: "冲正金额（元）", "Credit amount (CNY)";
    ops_credit_amount_hint: "留空则全额冲正", "Leave empty to reverse the whole CDR";
    ops_credit_issued: "冲正记录已开具，计入当期对账单。", "The credit CDR was issued; it lands on the current period's statement.";
    ops_reason: "原因", "Reason";
    ops_statement: "对账单", "Statement";
    ops_no_statements: "没有符合条件的对账单。", "No statements match these filters.";
    ops_st_draft: "草稿", "Draft";
    ops_st_reported: "已收到对账", "Reported";
    ops_st_reconciled: "对账一致", "Reconciled";
    ops_st_disputed: "有差异", "Disputed";
    ops_st_confirmed: "已确认", "Confirmed";
    ops_st_settled: "已结算", "Settled";
    ops_sessions_credits: "订单数 / 冲正数", "Sessions / credits";
    ops_commission: "合作方分成", "Commission";
    ops_due: "应付运营商", "Due to operator";
    ops_closed: "关账时间", "Closed";
    ops_confirmed: "确认时间", "Confirmed";
    ops_settled: "结算时间", "Settled";
    ops_payment_reference: "付款凭证号", "Payment reference";
    ops_export_csv: "导出 CSV", "Export CSV";
    ops_confirm: "确认对账单", "Confirm the statement";
    ops_confirm_hint: "确认后金额锁定，只能再标记为已结算。所有差异须先处理。", "Confirming locks the figures; next is marking it settled. Every discrepancy must be resolved first.";
    ops_mark_settled: "标记为已结算", "Mark as settled";
    ops_reconciliation: "对账结果", "Reconciliation";
    ops_no_report: "合作方尚未提交对账数据。", "The partner has not reported yet.";
    ops_difference: "差额", "Difference";
    ops_category: "类别", "Category";
    ops_ours: "我方", "Ours";
    ops_theirs: "对方", "Theirs";
    ops_cat_matched: "一致", "Matched";
    ops_cat_energy: "电量不符", "Energy mismatch";
    ops_cat_amount: "金额不符", "Amount mismatch";
    ops_cat_missing_partner: "对方缺失", "Missing on partner";
    ops_cat_missing_operator: "我方缺失", "Missing on our side";
    ops_cat_duplicate: "重复", "Duplicate";
    ops_resolution: "处理", "Resolution";
    ops_res_ours: "以我方为准", "Accept ours";
    ops_res_theirs: "以对方为准", "Accept theirs";
    ops_res_credit: "冲正调整", "Adjust with a credit CDR";
    ops_resolve: "提交处理", "Resolve";
    ops_reports: "对账数据", "Partner reports";
    ops_report: "对账数据编号", "Report";
    ops_received: "收到时间", "Received";
    ops_format: "格式", "Format";
    ops_latest: "最新", "Latest";
    ops_lines: "明细", "Lines";
    ops_no_lines: "本期没有充电记录。", "No CDRs in this period.";
    ops_more_lines: "仅显示前 500 行；完整明细请导出 CSV。", "Only the first 500 lines are shown; export the CSV for all of them.";
    ops_late: "迟到", "Late";
    ops_done_resolved: "差异已处理。", "The discrepancy was resolved.";
    ops_done_confirmed: "对账单已确认。", "The statement was confirmed.";
    ops_done_settled: "对账单已标记为已结算。", "The statement was marked as settled.";
    ops_no_partners: "还没有合作方。", "No partners yet.";
    ops_webhooks: "Webhook", "Webhooks";
    ops_no_webhook: "未配置 Webhook", "No webhook set up";
    ops_wh_ok: "正常", "Healthy";
    ops_wh_failing: "投递失败", "Failing";
    ops_wh_disabled: "已停用", "Disabled";
    ops_dead: "死信", "Dead-lettered";
    ops_last_success: "最近成功", "Last success";
    ops_failing_since: "失败开始于", "Failing since";
    ops_last_error: "最近错误", "Last error";
    ops_queue: "队列", "Queue";
    ops_delivery_log: "投递记录", "Delivery log";
    ops_no_deliveries: "还没有投递。", "No deliveries yet.";
    ops_event: "事件", "Event";
    ops_attempts: "尝试次数", "Attempts";
    ops_last_attempt: "最近尝试", "Last attempt";
    ops_retry: "重新投递", "Retry";
    ops_dl_pending: "待投递", "Pending";
    ops_dl_delivered: "已送达", "Delivered";
    ops_dl_dead: "已放弃", "Dead";
    ops_rate_limit_hits: "限流拒绝", "Rate-limit refusals";
    ops_hits_hint: "自本进程启动以来因超出合同限流而被拒绝的请求数。", "Requests refused for exceeding the contract's rate limit since this process started.";
    ops_no_hits: "没有被限流的请求。", "No request was refused.";
    ops_refused: "拒绝次数", "Refused";
    ops_last_refused: "最近一次", "Last refused";
    ops_credentials_hint: "只显示凭证元数据；密钥本身及其摘要从不显示。", "Metadata only: secrets and their digests are never shown.";
    ops_no_contract: "尚未签订合同（仅沙箱）。", "No contract yet (sandbox only).";
    ops_suspend: "暂停合作方", "Suspend the partner";
    ops_suspend_hint: "暂停后其所有令牌立即失效，且不再签发新令牌。", "Every token stops working at once and no new ones are issued.";
    ops_resume: "恢复合作方", "Resume the partner";
    ops_resume_hint: "恢复后合作方需重新获取令牌。", "The partner must request new tokens after resuming.";
    ops_suspended_at: "暂停时间", "Suspended";
    ops_suspension_reason: "暂停原因", "Suspension reason";
    ops_done_suspended: "合作方已暂停。", "The partner was suspended.";
    ops_done_resumed: "合作方已恢复。", "The partner was resumed.";
    ops_done_retried: "投递已重新排队。", "The delivery was queued again.";
    ops_today: "今日", "Today";
    ops_active_sessions: "进行中的订单", "Active sessions";
    ops_today_energy: "今日电量", "Energy today";
    ops_today_revenue: "今日收入", "Revenue today";
    ops_today_cdrs: "今日充电记录", "CDRs today";
    ops_active_by_station: "各站进行中的订单", "Active sessions by station";
    ops_no_active: "当前没有进行中的订单。", "No session is active.";
    ops_delivery_health: "合作方投递健康度", "Delivery health by partner";
    ops_err_date: "请按 年-月-日 填写日期，例如 2026-11-28。", "Enter a date as year-month-day, e.g. 2026-11-28.";
    ops_err_date_order: "结束日期不能早于开始日期。", "The end date cannot be before the start date.";
    ops_err_choice: "请从列表中选择。", "Choose a value from the list.";
    ops_err_reason: "请填写原因。", "Give a reason.";
    ops_err_reason_long: "原因最多 500 个字符。", "A reason has at most 500 characters.";
    ops_err_amount: "请填写金额，最多两位小数，例如 12.50。", "Enter an amount with at most two decimals, e.g. 12.50.";
    ops_err_amount_positive: "金额必须大于 0。", "The amount must be more than 0.";
    ops_err_credit_amount: "冲正调整需要填写金额。", "A credit adjustment needs an amount.";
    ops_err_resolution: "请选择处理方式。", "Choose a resolution.";
    ops_err_reference_long: "付款凭证号最多 100 个字符。", "A payment reference has at most 100 characters.";
    ops_err_rule: "不符合业务规则", "Not allowed by the rules";
    ops_err_state: "当前状态下不能执行此操作", "Not possible in the current state";
    ops_back: "返回", "Back";
    ops_save: "保存", "Save";
    ops_cancel: "取消", "Cancel";
    ops_err_invalid_field: "此项无效", "Invalid";
    ops_err_unknown_tariff: "该电价不存在。", "This tariff does not exist.";
    ops_err_id_taken: "该编号已被使用。", "This ID is taken.";
    ops_err_retired: "该对象已退役，不能修改。", "It is retired and cannot be changed.";
    ops_err_number_taken: "该充电桩已有此枪号。", "The charger already has a connector with this number.";
    ops_new_station: "新建充电站", "New station";
    ops_edit_station: "编辑充电站", "Edit station";
    ops_new_charger: "新增充电桩", "New charger";
    ops_edit_charger: "编辑充电桩", "Edit charger";
    ops_new_connector: "新增充电枪", "New connector";
    ops_edit_connector: "编辑充电枪", "Edit connector";
    ops_edit: "编辑", "Edit";
    ops_saved: "已保存。", "Saved.";
    ops_area_code: "行政区划代码", "Area code";
    ops_province: "省", "Province";
    ops_city: "市", "City";
    ops_lat: "纬度", "Latitude";
    ops_lng: "经度", "Longitude";
    ops_datum: "坐标系", "Datum";
    ops_opening_hours: "营业时间", "Opening hours";
    ops_parking: "停车说明", "Parking";
    ops_photos: "照片地址（每行一个）", "Photo URLs (one per line)";
    ops_hint_station_id: "最多 20 个字符：字母、数字、-、_、.", "Up to 20 characters: letters, digits, -, _, .";
    ops_hint_opening_hours: "24/7 或 HH:MM-HH:MM（本地时间）", "24/7 or HH:MM-HH:MM (local time)";
    ops_hint_photos: "http(s) 地址", "http(s) addresses";
    ops_charger_id: "充电桩编号（OCPP 标识）", "Charger ID (OCPP identity)";
    ops_hint_charger_id: "最多 20 个可打印 ASCII 字符，不含 /", "Up to 20 printable ASCII characters, no /";
    ops_vendor: "厂商", "Vendor";
    ops_model: "型号", "Model";
    ops_current_type: "交流 / 直流", "AC / DC";
    ops_max_power_kw: "最大功率（kW）", "Maximum power (kW)";
    ops_disabled: "停用", "Disabled";
    ops_hint_disabled: "停用的充电桩连接时会被拒绝。", "A disabled charger is refused when it connects.";
    ops_hint_connector_id: "留空则为 充电桩编号-枪号", "Empty: <charger ID>-<number>";
    ops_voltage: "电压（V）", "Voltage (V)";
    ops_current: "电流（A）", "Current (A)";
    ops_import: "从文件导入网络", "Import the network from a file";
    ops_import_hint: "与 openpile import 相同的格式：一个 JSON 文件，或一个 CSV 文件（电价、充电站、充电桩或充电枪）。先预览，确认后才写入。", "The formats of openpile import: one JSON file, or one CSV file (tariffs, stations, chargers or connectors). Preview first; nothing is written until you confirm.";
    ops_import_file: "选择文件", "Choose a file";
    ops_import_content: "文件内容", "File content";
    ops_import_preview: "预览", "Preview";
    ops_import_confirm: "确认导入", "Confirm the import";
    ops_import_errors: "错误", "Errors";
    ops_import_location: "位置", "Location";
    ops_import_field: "字段", "Field";
    ops_import_reason: "原因", "Reason";
    ops_import_changes: "将要写入的内容", "What would change";
    ops_import_kind: "类型", "Kind";
    ops_import_action: "操作", "Action";
    ops_import_new: "新增", "New";
    ops_import_update: "替换", "Replace";
    ops_import_done: "已导入（电价 / 充电站 / 充电桩 / 充电枪）：{0}", "Imported (tariffs / stations / chargers / connectors): {0}";
    ops_err_import_empty: "请选择文件或粘贴内容。", "Choose a file or paste its content.";
    ops_err_import_large: "文件过大（最多 4 MB）。", "The file is too large (at most 4 MB).";
    ops_err_import_problems: "文件有 {0} 处错误，未写入任何内容。", "The file has {0} problems; nothing was written.";
    ops_err_import_conflict: "数据库拒绝了导入（{0}），未写入任何内容。", "The store refused the import ({0}); nothing was written.";
    ops_err_import_changed: "内容在预览后被修改过，请先重新预览。", "The text changed after the preview; preview it again.";
    // end: operator screens (session 2)

    // Audit
    no_audit: "暂无审计记录。", "No audit entries yet.";
    time: "时间", "Time";
    actor: "操作人", "Actor";
    action: "操作", "Action";
    object: "对象", "Object";
    details: "详情", "Details";
    next_page: "下一页", "Next page";
    first_page: "第一页", "First page";

    // Errors
    back_to_console: "返回总览", "Back to the dashboard";
    err_not_found: "页面不存在", "Page not found";
    err_not_found_detail: "找不到您要的页面或对象。", "The page or object you asked for does not exist.";
    err_forbidden: "无权访问", "Not allowed";
    err_forbidden_detail: "您的角色不能查看此页面或执行此操作。", "Your role cannot see this page or do this.";
    err_csrf: "表单已失效", "Form expired";
    err_csrf_detail: "表单已过期或并非来自本站。请返回、刷新页面后重试。", "The form expired or was not sent by this site. Go back, reload the page and try again.";
    err_bad_request: "请求无效", "Bad request";
    err_bad_request_detail: "无法读取提交的内容。", "The submitted data could not be read.";
    err_twice: "已提交", "Already submitted";
    err_twice_detail: "该表单已经提交过，操作不会重复执行。", "This form was already submitted; the action was not repeated.";
    err_unavailable: "暂时不可用", "Temporarily unavailable";
    err_unavailable_detail: "数据库暂时不可用，请稍后重试。", "The database is unavailable for the moment; try again shortly.";
    err_internal: "出错了", "Something went wrong";
    err_internal_detail: "服务器内部错误，已记录。请稍后重试。", "An internal error occurred and was logged. Try again later.";

    // portal: session 2 screens
    pt_nav_home: "概览", "Overview";
    pt_nav_webhook: "Webhook 推送", "Webhook";
    pt_nav_live: "实时事件", "Live events";
    pt_nav_sessions: "充电会话", "Sessions";
    pt_nav_cdrs: "充电记录（CDR）", "CDRs";
    pt_nav_statements: "结算单", "Statements";
    pt_nav_guide: "入门指南", "Getting started";
    pt_guide_intro: "以下入门指南为英文，接口的完整说明见", "The guide below is in English; the full reference is in the";
    pt_save: "保存", "Save";
    pt_filters: "筛选", "Filters";
    pt_apply_filters: "筛选", "Filter";
    pt_all_states: "全部状态", "All states";
    pt_all_types: "全部类型", "All types";
    pt_from: "开始", "From";
    pt_to: "结束", "To";
    pt_from_day: "开始日期", "From (day)";
    pt_to_day: "结束日期（含）", "To (day, inclusive)";
    pt_err_date: "请填写日期，格式为 YYYY-MM-DD。", "Enter a date as YYYY-MM-DD.";
    pt_err_date_order: "结束日期不能早于开始日期。", "The last day cannot be before the first.";
    pt_err_state: "请选择列表中的状态。", "Choose a state from the list.";
    pt_webhook_title: "Webhook 设置", "Webhook";
    pt_webhook_settings: "推送设置", "Settings";
    pt_webhook_url: "推送地址（URL）", "Endpoint URL";
    pt_webhook_url_hint: "以 https:// 开头的公网地址，最多 512 个字符，不含用户名密码和 #。每次推送都带 Standard Webhooks 签名。", "A public https:// address, up to 512 characters, without credentials or #. Every delivery carries a Standard Webhooks signature.";
    pt_event_types: "推送的事件类型", "Event types to deliver";
    pt_event_types_hint: "至少选择一种。", "Choose at least one.";
    pt_webhook_enabled: "启用推送", "Enabled";
    pt_err_webhook_url: "请填写以 http:// 或 https:// 开头的完整地址，不含用户名密码和 #。", "Enter a full http:// or https:// address without credentials or #.";
    pt_err_webhook_private: "该地址指向内网、本机或保留地址，无法推送；请使用公网地址。", "This address is private, loopback or reserved and cannot be delivered to; use a public address.";
    pt_err_event_types: "请至少选择一种可订阅的事件类型。", "Choose at least one event type you can subscribe to.";
    pt_webhook_none: "未配置", "Not configured";
    pt_webhook_active: "推送中", "Active";
    pt_webhook_disabled: "已停用", "Disabled";
    pt_webhook_failing_disabled: "因持续失败被停用（保存即可重新启用）", "Disabled after failing for days (save to re-enable)";
    pt_failing_since: "连续失败自", "failing since";
    pt_webhook_saved: "Webhook 设置已保存。", "The webhook settings are saved.";
    pt_webhook_tested: "测试事件已加入推送队列，结果见下方推送记录。", "A test event is queued; follow it in the delivery log below.";
    pt_webhook_retried: "已重新加入推送队列。", "The delivery is queued again.";
    pt_webhook_created: "Webhook 已创建", "Webhook created";
    pt_webhook_rotated: "新的签名密钥", "New signing secret";
    pt_webhook_secret_once: "签名密钥仅显示这一次。请立即复制并保存，用它校验推送签名。", "The signing secret is shown only this once. Copy it now and use it to verify delivery signatures.";
    pt_signing_secret: "签名密钥", "Signing secret";
    pt_back_to_webhook: "返回 Webhook 设置", "Back to the webhook";
    pt_webhook_actions: "测试与密钥", "Test and secret";
    pt_webhook_send_test: "发送测试事件", "Send a test event";
    pt_webhook_rotate: "轮换签名密钥", "Rotate the signing secret";
    pt_webhook_rotate_hint: "轮换后旧密钥在宽限期内继续签名（推送带两个签名）。", "After a rotation the previous secret keeps signing for a grace period (deliveries carry both signatures).";
    pt_delivery_log: "推送记录", "Delivery log";
    pt_no_deliveries: "暂无推送记录。", "No deliveries yet.";
    pt_event_type: "事件类型", "Event type";
    pt_attempts: "尝试（状态、耗时、错误）", "Attempts (status, latency, error)";
    pt_no_attempts: "尚未尝试", "Not attempted yet";
    pt_no_response: "无响应", "no response";
    pt_latency: "耗时", "Latency";
    pt_error: "错误", "Error";
    pt_next_attempt: "下次尝试", "next attempt";
    pt_retry: "重新推送", "Retry";
    pt_delivery_pending: "待推送", "Pending";
    pt_delivery_delivered: "已送达", "Delivered";
    pt_delivery_dead: "已放弃", "Gave up";
    pt_live_title: "实时事件", "Live events";
    pt_live_intro: "您的事件流（与 Webhook 和 /v1/events/stream 收到的相同），新事件会自动出现在最上方；测试事件也会显示。", "Your event stream (what your webhook and /v1/events/stream receive); new events appear at the top as they happen, test events too.";
    pt_filter_type: "只看此类型", "Show only";
    pt_no_events: "暂无事件。", "No events yet.";
    pt_session: "会话", "Session";
    pt_no_sessions: "没有符合条件的会话。", "No sessions match.";
    pt_session_pending: "等待中", "Pending";
    pt_session_starting: "启动中", "Starting";
    pt_session_charging: "充电中", "Charging";
    pt_session_stopping: "停止中", "Stopping";
    pt_session_finishing: "占位计费中", "Finishing (idle fee running)";
    pt_session_completed: "已完成", "Completed";
    pt_session_failed: "失败", "Failed";
    pt_order_id: "订单号", "Order ID";
    pt_connector: "充电枪", "Connector";
    pt_started_at: "开始时间", "Started";
    pt_stopped_at: "结束时间", "Stopped";
    pt_user_ref: "用户标识", "User reference";
    pt_limit: "充电限额", "Limit";
    pt_power: "功率", "Power";
    pt_soc: "电池电量", "State of charge";
    pt_stop_reason: "结束原因", "Stop reason";
    pt_failure: "失败原因", "Failure";
    pt_energy: "电量", "Energy";
    pt_cost_breakdown: "费用明细", "Cost breakdown";
    pt_no_cost: "尚无计费明细。", "No priced energy yet.";
    pt_meter_anomaly: "电表读数异常，费用按可信读数计算。", "The meter readings were anomalous; the cost uses the readings that could be trusted.";
    pt_period: "时段", "Period";
    pt_electricity_price: "电价（元/kWh）", "Electricity (CNY/kWh)";
    pt_service_price: "服务费（元/kWh）", "Service (CNY/kWh)";
    pt_electricity_fee: "电费", "Electricity fee";
    pt_service_fee: "服务费", "Service fee";
    pt_idle_fee: "占位费", "Idle fee";
    pt_total: "合计", "Total";
    pt_tariff: "资费", "Tariff";
    pt_credit: "冲正", "credit";
    pt_credit_of: "冲正原记录", "Credit for";
    pt_no_cdrs: "没有符合条件的充电记录。", "No CDRs match.";
    pt_statement: "结算单", "Statement";
    pt_no_statements: "暂无结算单。", "No statements yet.";
    pt_statement_draft: "待对账", "Draft";
    pt_statement_reported: "已提交对账", "Reported";
    pt_statement_reconciled: "对账一致", "Reconciled";
    pt_statement_disputed: "存在差异", "Disputed";
    pt_statement_confirmed: "已确认", "Confirmed";
    pt_statement_settled: "已结清", "Settled";
    pt_sessions_count: "会话数", "Sessions";
    pt_commission: "佣金", "Commission";
    pt_due: "应付运营商", "Due to the operator";
    pt_totals: "汇总", "Totals";
    pt_closed_at: "关账时间", "Closed";
    pt_confirmed_at: "确认时间", "Confirmed";
    pt_settled_at: "结清时间", "Settled";
    pt_payment_reference: "付款凭证号", "Payment reference";
    pt_statement_lines: "明细", "Lines";
    pt_no_lines: "本期没有充电记录。", "No CDRs in this period.";
    pt_late: "补录", "late";
    pt_report_upload: "上传对账报告", "Upload your settlement report";
    pt_report_format: "CSV 格式与 POST /v1/statements/{id}/report 相同：表头 order_id,session_id,energy_kwh,amount（顺序不限），每个订单一行，最后一行为 TOTAL,,总电量,总金额。电量最多 3 位小数（kWh），金额最多 2 位小数（元）。", "The CSV format of POST /v1/statements/{id}/report: a header order_id,session_id,energy_kwh,amount (any order), one row per order, and a last row TOTAL,,<energy_kwh>,<amount>. Energy to 3 decimals (kWh), amounts to 2 (CNY).";
    pt_report_file: "CSV 文件", "CSV file";
    pt_report_file_hint: "选择文件后其内容会填入下方文本框，提交前可检查。", "The file's content goes into the box below, to check before sending.";
    pt_report_csv: "CSV 内容", "CSV content";
    pt_report_csv_hint: "也可直接粘贴 CSV。", "Or paste the CSV here.";
    pt_report_submit: "上传并对账", "Upload and reconcile";
    pt_report_errors: "处错误，报告未保存。请修改后重新上传：", "error(s); the report was not stored. Correct them and upload again:";
    pt_line: "行", "Line";
    pt_err_csv_empty: "请选择 CSV 文件或粘贴 CSV 内容。", "Choose a CSV file or paste the CSV.";
    pt_err_csv_rejected: "报告有错误，见上方按行列出的问题。", "The report has errors, listed by line above.";
    pt_report_not_yet: "本期尚未关账，关账后才能上传对账报告。", "This period is not closed yet; reports are accepted once it is.";
    pt_report_locked: "结算单已确认或已结清，不能再上传报告。", "The statement is confirmed or settled; reports are no longer accepted.";
    pt_report_reconciled: "报告已接收，全部订单一致。", "Report received: every order matched.";
    pt_report_disputed: "报告已接收，发现差异，运营商将处理。", "Report received: there are discrepancies, which the operator will resolve.";
    pt_reconciliation: "对账结果", "Reconciliation";
    pt_report_received: "报告接收于", "Report received";
    pt_report_lines: "行", "lines";
    pt_tolerance: "容差 {0}", "tolerance {0}";
    pt_category: "类别", "Category";
    pt_count: "数量", "Count";
    pt_cat_matched: "一致", "Matched";
    pt_cat_energy_mismatch: "电量不符", "Energy differs";
    pt_cat_amount_mismatch: "金额不符", "Amount differs";
    pt_cat_missing_on_partner: "您的报告缺少", "Missing in your report";
    pt_cat_missing_on_operator: "我方无此订单", "Not in our records";
    pt_cat_duplicate: "重复", "Duplicate";
    pt_all_categories: "显示全部类别", "Show every category";
    pt_no_items: "没有条目。", "No items.";
    pt_ours: "我方", "Ours";
    pt_theirs: "您方", "Yours";
    pt_our_amount: "我方合计", "Our total";
    pt_their_amount: "您方合计", "Your total";
    pt_difference: "差额", "Difference";
    pt_resolved: "已处理", "resolved";
}

impl Messages {
    pub fn status(&self, s: ConnectorStatus) -> &'static str {
        match s {
            ConnectorStatus::Available => self.status_available,
            ConnectorStatus::Occupied => self.status_occupied,
            ConnectorStatus::Charging => self.status_charging,
            ConnectorStatus::Reserved => self.status_reserved,
            ConnectorStatus::Unavailable => self.status_unavailable,
            ConnectorStatus::Faulted => self.status_faulted,
            ConnectorStatus::Offline => self.status_offline,
        }
    }

    pub fn role(&self, r: OperatorRole) -> &'static str {
        match r {
            OperatorRole::Admin => self.role_admin,
            OperatorRole::Reviewer => self.role_reviewer,
            OperatorRole::Operations => self.role_operations,
            OperatorRole::Finance => self.role_finance,
        }
    }

    pub fn station_status(&self, s: StationStatus) -> &'static str {
        match s {
            StationStatus::Planned => self.station_planned,
            StationStatus::Operational => self.station_operational,
            StationStatus::Maintenance => self.station_maintenance,
            StationStatus::Closed => self.station_closed,
        }
    }

    pub fn registration(&self, r: Registration) -> &'static str {
        match r {
            Registration::Provisioned => self.registration_provisioned,
            Registration::Registered => self.registration_registered,
            Registration::Disabled => self.registration_disabled,
        }
    }

    pub fn period(&self, p: Option<PeriodLabel>) -> &'static str {
        match p {
            None => self.period_none,
            Some(PeriodLabel::Sharp) => self.period_sharp,
            Some(PeriodLabel::Peak) => self.period_peak,
            Some(PeriodLabel::Flat) => self.period_flat,
            Some(PeriodLabel::Valley) => self.period_valley,
        }
    }

    pub fn online(&self, online: bool) -> &'static str {
        if online { self.online } else { self.offline }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_exists_in_both_languages() {
        for (key, zh, en) in all_pairs() {
            assert!(!zh.trim().is_empty(), "{key} has no Chinese");
            assert!(!en.trim().is_empty(), "{key} has no English");
            for arg in ["{0}", "{1}"] {
                assert_eq!(
                    zh.contains(arg),
                    en.contains(arg),
                    "{key}: both languages must take the same arguments"
                );
            }
        }
    }

    #[test]
    fn chinese_strings_are_translated() {
        // Keys whose text is legitimately the same in both tables.
        let same = ["not_set"];
        for (key, zh, en) in all_pairs() {
            if !same.contains(&key) {
                assert_ne!(zh, en, "{key} is not translated");
            }
        }
    }

    #[test]
    fn languages_parse_loosely() {
        assert_eq!(Lang::parse("zh-CN"), Some(Lang::Zh));
        assert_eq!(Lang::parse("zh-hans"), Some(Lang::Zh));
        assert_eq!(Lang::parse("EN-us"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::from_query(Some("a=1&lang=en")), Some(Lang::En));
        assert_eq!(Lang::from_query(Some("lang=xx")), None);
        assert_eq!(Lang::default().code(), "zh-CN");
    }
}
