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
    revenue_share_hint: "（小数，0.05 即 5%）", "(a fraction: 0.05 is 5 %)";
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
