//! `crm seed`: bulk generation of realistic, valid, hash-chained customer
//! histories for demos and benchmarks.
//!
//! Going through [`command::CommandService`] (load the stream, decide, append,
//! one round trip per command) manages a few hundred events a second; a
//! benchmark store of millions of events would take hours. Instead this module
//! plans each customer's whole history in Rust, keeping the aggregate's rules
//! itself (`command::aggregate`: stage transitions, reopen reasons, positive
//! purchases, at most 20 tags, unique order references, no dates in the
//! future), serialises the real event types, and appends thousands of rows per
//! statement through the normal `events` table. The table's insert trigger
//! therefore fills `tenant_id`, `occurred_at`, `prev_hash` and `hash` exactly
//! as it does for the service, and every seeded stream verifies and replays.
//! `crm/tests/seed.rs` proves it by re-deciding seeded histories through the
//! real aggregate.
//!
//! Personal fields (names, phones, e-mails, activity notes) are sealed as the
//! service seals them (`events::personal`): [`run`] gives every customer a
//! data key, stores it wrapped by the master key in `customer_keys` (in the
//! same statement as the customer's events) and seals the fields with it, so
//! the seeded data can be read, audited and forgotten like any other.
//!
//! Output is deterministic for a given [`SeedOptions::seed`] apart from ids
//! (tenant, customer, activity and purchase UUIDs), keys and ciphertexts, and
//! timestamps, which are laid out relative to the moment the run starts.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use chrono::{DateTime, SecondsFormat, Utc};
use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinSet;
use uuid::Uuid;

use command::aggregate::MAX_TAGS;
use events::customer::{
    ActivityLogged, CustomerAssigned, CustomerProfileUpdated, CustomerRegistered,
    CustomerStageMoved, CustomerTagged, CustomerUntagged, PurchaseRecorded, V1,
};
use events::personal::{DataKey, MasterKey, Personal};
use events::values::{
    ActivityType, CustomerName, Email, Money, OrderRef, Phone, Probability, ShortText, Stage, Tag,
    UserId,
};
use events::CustomerEvent;
use web::Role;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedOptions {
    /// Number of tenants.
    pub tenants: usize,
    /// Customers over all tenants.
    pub customers: usize,
    /// Customers of the first (largest) tenant; the rest are spread evenly over the others.
    pub largest_tenant: usize,
    /// Average events per customer, registration included (10 → 500k customers give ~5M events).
    pub events_per_customer: usize,
    /// RNG seed: the same seed gives the same histories apart from ids and timestamps.
    pub seed: u64,
}

/// What a run wrote.
#[derive(Debug, Clone)]
pub struct SeedReport {
    /// Tenant ids, largest tenant first (the order of [`SeedOptions::tenant_sizes`]).
    pub tenants: Vec<Uuid>,
    pub customers: u64,
    pub events: u64,
    pub elapsed: Duration,
}

/// The most events a customer may average: beyond it a history no longer fits
/// the hour of slack kept between the last event and "now" (see [`plan_times`]).
pub const MAX_EVENTS_PER_CUSTOMER: usize = 1_000;

/// Rows per INSERT. Each statement is its own transaction; a few thousand rows
/// amortise the round trip and the commit without making one statement's
/// trigger work (and a failure's rollback) large. Measured on the 2-core
/// development machine (300k events, 2 writers, other builds running):
/// 1k rows 22k events/s, 2k 27k, 4k 29k, 8k 28.5k.
const ROWS_PER_STATEMENT: usize = 4_000;

/// Concurrent INSERT statements, each on its own connection and on different
/// customers. The server's per-row work (the chain trigger's PL/pgSQL index
/// lookup and SHA-256, seven indexes, the jsonb round trip) is the
/// bottleneck; one statement keeps one server core busy. Measured on the
/// 2-core development machine (200k events): 1 writer 25k events/s, 2 34k,
/// 3 34k, 4 31k.
const WRITERS: usize = 2;

/// Batches generated ahead of the writers: generation overlaps the inserts
/// and never waits on them, while memory stays bounded.
const BATCHES_AHEAD: usize = WRITERS * 2;

/// `Customer::TYPE`, the aggregate type postgres-es writes (crm does not
/// depend on cqrs-es to name the constant; the tests load the seeded streams
/// through the real service, which would find nothing under another name).
const AGGREGATE_TYPE: &str = "Customer";

/// Appends a batch: the customers' data keys (none when seeding in clear) and
/// their events, in one statement and so one transaction, so no committed
/// event ever lacks its key.
///
/// The JSON goes through `jsonb` on its way into the `json` columns because
/// that is what the service stores: postgres-es binds a `serde_json::Value`,
/// which sqlx sends as `jsonb`, so the stored (and hashed) text is jsonb's
/// normalised rendering (storing serde's compact text instead would be about
/// 12% faster, but seeded events would not look like the service's).
/// `WITH ORDINALITY ... ORDER BY` keeps the array
/// order, so each stream's rows are inserted in sequence order and the
/// trigger finds the previous event (earlier rows of the same statement are
/// visible to it).
const INSERT_EVENTS: &str = "
WITH keys AS (
    INSERT INTO customer_keys (customer_id, tenant_id, wrapped_key, created_at)
    SELECT * FROM UNNEST($8::uuid[], $9::uuid[], $10::bytea[], $11::timestamptz[])
)
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT $1, e.aggregate_id, e.sequence, e.event_type, $2, e.payload::jsonb::json, e.metadata::jsonb::json
  FROM UNNEST($3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[]) WITH ORDINALITY
       AS e(aggregate_id, sequence, event_type, payload, metadata, position)
 ORDER BY e.position";

impl SeedOptions {
    /// Customers per tenant, largest first, or why the options do not add up.
    pub fn tenant_sizes(&self) -> anyhow::Result<Vec<usize>> {
        ensure!(self.tenants >= 1, "there must be at least one tenant");
        ensure!(
            (1..=MAX_EVENTS_PER_CUSTOMER).contains(&self.events_per_customer),
            "events per customer must be between 1 and {MAX_EVENTS_PER_CUSTOMER} (got {})",
            self.events_per_customer
        );
        ensure!(
            self.largest_tenant <= self.customers,
            "the largest tenant ({}) cannot hold more than all {} customers",
            self.largest_tenant,
            self.customers
        );
        let others = self.tenants - 1;
        let rest = self.customers - self.largest_tenant;
        if others == 0 {
            ensure!(
                rest == 0,
                "with one tenant, the largest tenant must hold all {} customers (got {})",
                self.customers,
                self.largest_tenant
            );
            return Ok(vec![self.customers]);
        }
        let (base, remainder) = (rest / others, rest % others);
        let biggest_other = base + usize::from(remainder > 0);
        ensure!(
            self.largest_tenant >= biggest_other,
            "the largest tenant ({}) would be smaller than the others ({biggest_other}); \
             raise the largest tenant or the number of tenants",
            self.largest_tenant
        );
        let mut sizes = Vec::with_capacity(self.tenants);
        sizes.push(self.largest_tenant);
        sizes.extend((0..others).map(|index| base + usize::from(index < remainder)));
        Ok(sizes)
    }
}

/// Seeds the store as the service would have written it, personal fields
/// sealed with per-customer data keys wrapped by `master` (which must be the
/// service's master key, or it cannot open them), and reports what it wrote.
/// `progress` advances by the customers of each committed statement.
pub async fn run(
    pool: &PgPool,
    options: &SeedOptions,
    master: &MasterKey,
    progress: &ProgressBar,
) -> anyhow::Result<SeedReport> {
    seed(pool, options, master.clone(), progress).await
}

/// One blocking thread generates batches of whole customers (so every stream
/// lies in one statement, in sequence order) while [`WRITERS`] tasks insert
/// them. A failed statement rolls back only itself: the customers committed
/// before it stay, complete and valid.
async fn seed(
    pool: &PgPool,
    options: &SeedOptions,
    master: MasterKey,
    progress: &ProgressBar,
) -> anyhow::Result<SeedReport> {
    let started = Instant::now();
    let sizes = options.tenant_sizes()?;
    let tenants: Vec<Tenant> = sizes
        .iter()
        .enumerate()
        .map(|(index, &customers)| Tenant::new(Uuid::new_v4(), index, customers, options.seed))
        .collect();
    let tenant_ids = tenants.iter().map(|tenant| tenant.id).collect();
    let generator = Generator::new(
        tenants,
        options.seed,
        options.events_per_customer,
        Utc::now(),
        master,
    );

    let (sender, receiver) = mpsc::channel::<Batch>(BATCHES_AHEAD);
    let generating = tokio::task::spawn_blocking(move || {
        // A closed channel means a writer failed and the run is being
        // abandoned: stop quietly, the writer's error is the one reported.
        generator.generate(|batch| sender.blocking_send(batch).is_ok())
    });

    let receiver = Arc::new(Mutex::new(receiver));
    let mut writers = JoinSet::new();
    for _ in 0..WRITERS {
        writers.spawn(write_batches(
            pool.clone(),
            Arc::clone(&receiver),
            progress.clone(),
        ));
    }
    drop(receiver);

    let mut written = Written::default();
    while let Some(joined) = writers.join_next().await {
        // Returning early drops `writers` (aborting the other tasks) and with
        // them the receiver, which stops the generator.
        let done = joined.context("a seed writer task panicked")??;
        written.customers += done.customers;
        written.events += done.events;
    }
    generating
        .await
        .context("the seed generator panicked")?
        .context("generating seed data")?;

    Ok(SeedReport {
        tenants: tenant_ids,
        customers: written.customers,
        events: written.events,
        elapsed: started.elapsed(),
    })
}

#[derive(Debug, Default, Clone, Copy)]
struct Written {
    customers: u64,
    events: u64,
}

/// One writer: takes the next batch, appends it in one statement, repeats.
async fn write_batches(
    pool: PgPool,
    receiver: Arc<Mutex<mpsc::Receiver<Batch>>>,
    progress: ProgressBar,
) -> anyhow::Result<Written> {
    let mut written = Written::default();
    loop {
        // The lock is held only while waiting for a batch, never during the insert.
        let next = receiver.lock().await.recv().await;
        let Some(batch) = next else {
            return Ok(written);
        };
        let inserted = sqlx::query(INSERT_EVENTS)
            .bind(AGGREGATE_TYPE)
            .bind(V1)
            .bind(&batch.aggregate_ids)
            .bind(&batch.sequences)
            .bind(&batch.event_types)
            .bind(&batch.payloads)
            .bind(&batch.metadata)
            .bind(&batch.key_customers)
            .bind(&batch.key_tenants)
            .bind(&batch.wrapped_keys)
            .bind(&batch.key_created)
            .execute(&pool)
            .await
            .with_context(|| {
                format!(
                    "appending {} seeded events of {} customers",
                    batch.len(),
                    batch.customers
                )
            })?
            .rows_affected();
        ensure!(
            inserted == batch.len() as u64,
            "appended {inserted} events instead of {}",
            batch.len()
        );
        written.customers += batch.customers;
        written.events += inserted;
        progress.inc(batch.customers);
    }
}

/// Rows of one INSERT, column by column (the shape `UNNEST` takes).
#[derive(Debug, Default)]
struct Batch {
    aggregate_ids: Vec<String>,
    sequences: Vec<i64>,
    event_types: Vec<&'static str>,
    payloads: Vec<String>,
    metadata: Vec<String>,
    /// `customer_keys` rows: one per customer when sealing.
    key_customers: Vec<Uuid>,
    key_tenants: Vec<Uuid>,
    wrapped_keys: Vec<Vec<u8>>,
    key_created: Vec<DateTime<Utc>>,
    customers: u64,
}

impl Batch {
    fn with_capacity(rows: usize) -> Self {
        Self {
            aggregate_ids: Vec::with_capacity(rows),
            sequences: Vec::with_capacity(rows),
            event_types: Vec::with_capacity(rows),
            payloads: Vec::with_capacity(rows),
            metadata: Vec::with_capacity(rows),
            ..Self::default()
        }
    }

    fn len(&self) -> usize {
        self.sequences.len()
    }

    fn is_empty(&self) -> bool {
        self.sequences.is_empty()
    }
}

/// The event metadata the command service writes (`command::service`), minus
/// `idempotency_key`, which it adds only for keyed requests.
#[derive(Serialize)]
struct Metadata<'a> {
    tenant_id: &'a str,
    actor: &'a str,
    role: &'a str,
    command: &'a str,
    correlation_id: &'a str,
    occurred_at: &'a str,
}

// ---------------------------------------------------------------------------
// Vocabulary. Pinyin makes e-mail addresses that fit the names and companies.
// ---------------------------------------------------------------------------

const SURNAMES: &[(&str, &str)] = &[
    ("张", "zhang"),
    ("王", "wang"),
    ("李", "li"),
    ("赵", "zhao"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("周", "zhou"),
    ("吴", "wu"),
    ("徐", "xu"),
    ("孙", "sun"),
    ("马", "ma"),
    ("朱", "zhu"),
    ("胡", "hu"),
    ("郭", "guo"),
    ("何", "he"),
    ("林", "lin"),
    ("高", "gao"),
    ("罗", "luo"),
    ("郑", "zheng"),
    ("梁", "liang"),
    ("谢", "xie"),
    ("宋", "song"),
    ("唐", "tang"),
    ("许", "xu"),
    ("韩", "han"),
    ("冯", "feng"),
    ("邓", "deng"),
    ("曹", "cao"),
    ("彭", "peng"),
    ("曾", "zeng"),
    ("肖", "xiao"),
    ("田", "tian"),
    ("董", "dong"),
    ("潘", "pan"),
    ("袁", "yuan"),
    ("蔡", "cai"),
    ("蒋", "jiang"),
    ("余", "yu"),
    ("杜", "du"),
    ("叶", "ye"),
    ("程", "cheng"),
    ("魏", "wei"),
    ("苏", "su"),
    ("吕", "lv"),
    ("丁", "ding"),
    ("沈", "shen"),
    ("欧阳", "ouyang"),
    ("司马", "sima"),
    ("上官", "shangguan"),
];

const GIVEN: &[(&str, &str)] = &[
    ("伟", "wei"),
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("磊", "lei"),
    ("洋", "yang"),
    ("艳", "yan"),
    ("勇", "yong"),
    ("军", "jun"),
    ("杰", "jie"),
    ("娟", "juan"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("秀", "xiu"),
    ("英", "ying"),
    ("华", "hua"),
    ("平", "ping"),
    ("刚", "gang"),
    ("兰", "lan"),
    ("文", "wen"),
    ("辉", "hui"),
    ("鹏", "peng"),
    ("宇", "yu"),
    ("浩", "hao"),
    ("婷", "ting"),
    ("雪", "xue"),
    ("丽", "li"),
    ("强", "qiang"),
    ("建", "jian"),
    ("国", "guo"),
    ("海", "hai"),
    ("燕", "yan"),
    ("志", "zhi"),
    ("红", "hong"),
    ("玉", "yu"),
    ("俊", "jun"),
    ("晨", "chen"),
    ("欣", "xin"),
    ("梓", "zi"),
    ("涵", "han"),
    ("博", "bo"),
    ("思", "si"),
    ("佳", "jia"),
    ("雨", "yu"),
    ("嘉", "jia"),
    ("怡", "yi"),
    ("鑫", "xin"),
    ("凯", "kai"),
    ("昊", "hao"),
    ("晓", "xiao"),
    ("琳", "lin"),
    ("颖", "ying"),
    ("倩", "qian"),
    ("斌", "bin"),
    ("峰", "feng"),
    ("健", "jian"),
];

const CITIES: &[&str] = &[
    "北京", "上海", "广州", "深圳", "杭州", "苏州", "南京", "成都", "武汉", "西安", "重庆", "天津",
    "长沙", "郑州", "青岛", "厦门", "宁波", "合肥", "东莞", "佛山",
];

const COMPANY_PREFIXES: &[(&str, &str)] = &[
    ("星辰", "xingchen"),
    ("华美", "huamei"),
    ("恒达", "hengda"),
    ("鑫源", "xinyuan"),
    ("宏图", "hongtu"),
    ("金穗", "jinsui"),
    ("康宁", "kangning"),
    ("锦绣", "jinxiu"),
    ("云帆", "yunfan"),
    ("东方", "dongfang"),
    ("瑞丰", "ruifeng"),
    ("博远", "boyuan"),
    ("天成", "tiancheng"),
    ("中和", "zhonghe"),
    ("远航", "yuanhang"),
    ("汇通", "huitong"),
    ("新元", "xinyuan"),
    ("联创", "lianchuang"),
    ("安信", "anxin"),
    ("永盛", "yongsheng"),
    ("嘉禾", "jiahe"),
    ("盛世", "shengshi"),
    ("腾飞", "tengfei"),
    ("启明", "qiming"),
    ("蓝海", "lanhai"),
    ("明德", "mingde"),
    ("方圆", "fangyuan"),
    ("百川", "baichuan"),
    ("卓越", "zhuoyue"),
    ("同创", "tongchuang"),
    ("富源", "fuyuan"),
    ("海纳", "haina"),
    ("青松", "qingsong"),
    ("诚信", "chengxin"),
    ("金桥", "jinqiao"),
    ("银河", "yinhe"),
    ("龙腾", "longteng"),
    ("德胜", "desheng"),
    ("和信", "hexin"),
    ("易达", "yida"),
];

/// (word in the company name, industry, word in the company's domain).
const INDUSTRY_WORDS: &[(&str, &str, &str)] = &[
    ("科技", "信息技术", "tech"),
    ("软件", "信息技术", "soft"),
    ("信息技术", "信息技术", "it"),
    ("网络", "互联网", "net"),
    ("数据", "信息技术", "data"),
    ("贸易", "批发零售", "trade"),
    ("商贸", "批发零售", "trading"),
    ("制造", "制造业", "mfg"),
    ("精密机械", "制造业", "machinery"),
    ("电子", "电子制造", "elec"),
    ("物流", "物流运输", "logistics"),
    ("供应链", "物流运输", "scm"),
    ("医疗器械", "医疗健康", "med"),
    ("生物医药", "医疗健康", "bio"),
    ("教育咨询", "教育培训", "edu"),
    ("培训", "教育培训", "training"),
    ("餐饮管理", "餐饮", "catering"),
    ("置业", "房地产", "estate"),
    ("建材", "建筑建材", "bm"),
    ("建筑工程", "建筑建材", "build"),
    ("环保", "节能环保", "eco"),
    ("新能源", "能源", "energy"),
    ("食品", "食品饮料", "food"),
    ("文化传媒", "文化传媒", "media"),
    ("广告", "文化传媒", "ad"),
    ("家居", "零售", "home"),
    ("服饰", "纺织服装", "fashion"),
    ("农业", "农林牧渔", "agri"),
    ("汽车服务", "汽车", "auto"),
    ("财务咨询", "专业服务", "cpa"),
    ("人力资源", "专业服务", "hr"),
];

/// Legal-form suffixes with weights; an empty one gives short trade names like 华美贸易.
const COMPANY_SUFFIXES: &[(&str, u32)] = &[
    ("有限公司", 45),
    ("股份有限公司", 10),
    ("集团", 8),
    ("有限责任公司", 7),
    ("", 30),
];

const POSITIONS: &[&str] = &[
    "总经理",
    "副总经理",
    "董事长",
    "采购经理",
    "采购专员",
    "IT主管",
    "技术总监",
    "财务总监",
    "运营总监",
    "销售总监",
    "市场经理",
    "行政经理",
    "项目经理",
    "人事经理",
    "店长",
    "厂长",
];

const SOURCES: &[&str] = &[
    "展会",
    "官网咨询",
    "转介绍",
    "电话营销",
    "微信公众号",
    "百度推广",
    "抖音",
    "线下活动",
    "渠道合作",
    "老客户推荐",
    "小程序",
    "招投标",
];

const TAGS: &[&str] = &[
    "重点客户",
    "价格敏感",
    "决策人",
    "老客户推荐",
    "需要演示",
    "华东区",
    "华南区",
    "华北区",
    "西南区",
    "华中区",
    "大客户",
    "中小企业",
    "续费客户",
    "有采购预算",
    "竞品用户",
    "高意向",
    "待回访",
    "政府项目",
    "上市公司",
    "VIP",
    "技术型客户",
    "需要发票",
    "年度框架协议",
    "决策周期长",
    "需要上门",
    "已签保密协议",
    "试用中",
    "合作伙伴",
    "行业标杆",
    "跨境业务",
];

const LOST_REASONS: &[&str] = &[
    "预算不足",
    "选择了竞争对手",
    "项目延期",
    "需求变更",
    "价格过高",
    "联系不上决策人",
    "内部审批未通过",
];

const REOPEN_LOST_REASONS: &[&str] = &[
    "客户重新启动项目",
    "预算已重新批复",
    "与竞品合作不顺利",
    "新负责人重新评估",
    "客户主动联系",
];

const REOPEN_WON_REASONS: &[&str] = &["新一期项目需求", "扩容采购意向", "续约谈判"];

const VISIT_SUBJECTS: &[&str] = &[
    "上门拜访",
    "现场调研",
    "产品演示",
    "拜访关键决策人",
    "售后巡检",
];
const CALL_SUBJECTS: &[&str] = &[
    "电话跟进",
    "需求沟通",
    "报价跟进",
    "售后回访",
    "续费提醒",
    "约见面时间",
];
const EMAIL_SUBJECTS: &[&str] = &[
    "发送报价单",
    "发送产品方案",
    "合同条款确认",
    "发送案例资料",
    "发票寄送通知",
];
const MEETING_SUBJECTS: &[&str] = &[
    "方案讲解会",
    "商务谈判",
    "技术交流会",
    "年度合作复盘",
    "项目启动会",
];

const NOTES: &[&str] = &[
    "客户对价格比较敏感，希望下周给出优惠方案",
    "决策人下月出差，约定月底再沟通",
    "对数据安全有顾虑，需要技术团队支持",
    "已提交内部审批，预计两周内有结果",
    "客户希望增加培训服务",
    "竞品也在接触，需要加快节奏",
    "反馈使用体验良好，有扩容意向",
    "需要补充资质文件",
    "客户要求提供同行业案例",
    "已确认需求清单，下一步出方案",
];

/// Purchase categories with their price range in yuan (all within 99–50,000).
const CATEGORIES: &[(&str, u32, u32)] = &[
    ("软件订阅", 990, 30_000),
    ("实施服务", 5_000, 50_000),
    ("硬件设备", 1_500, 50_000),
    ("培训", 990, 20_000),
    ("耗材", 99, 3_000),
    ("技术支持", 500, 10_000),
    ("定制开发", 8_000, 50_000),
    ("维保服务", 800, 12_000),
];

/// Mainland mobile prefixes in use (the 11-digit number starts with one of them).
const MOBILE_PREFIXES: &[u16] = &[
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 147, 150, 151, 152, 153, 155, 156, 157, 158,
    159, 166, 173, 175, 176, 177, 178, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 191, 193,
    195, 196, 197, 198, 199,
];

const FREE_MAIL: &[&str] = &[
    "163.com",
    "126.com",
    "sina.com",
    "foxmail.com",
    "aliyun.com",
];

/// Sales reps a tenant may have: each tenant uses the first 3 to 8.
const REPS: &[&str] = &[
    "rep-1", "rep-2", "rep-3", "rep-4", "rep-5", "rep-6", "rep-7", "rep-8",
];
const MANAGERS: &[&str] = &["manager-1", "manager-2"];
const ADMIN: &str = "admin";

// ---------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_HOUR: i64 = 3_600 * MICROS_PER_SECOND;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;
/// How far back histories reach: about two years.
const HISTORY_DAYS: i64 = 730;

/// A tenant and its staff.
#[derive(Debug, Clone)]
struct Tenant {
    id: Uuid,
    id_text: String,
    customers: usize,
    /// The tenant's reps: a prefix of [`REPS`].
    reps: &'static [&'static str],
}

impl Tenant {
    fn new(id: Uuid, index: usize, customers: usize, seed: u64) -> Self {
        // A stream of its own, so the staff do not depend on the customer count.
        let mut rng = StdRng::seed_from_u64(mix(seed ^ 0x7e4a_47c0_5eed_0001, index as u64));
        let reps = &REPS[..rng.gen_range(3..=REPS.len())];
        Self {
            id,
            id_text: id.to_string(),
            customers,
            reps,
        }
    }
}

/// SplitMix64: spreads (seed, number) pairs over independent RNG seeds, so a
/// customer's history depends only on the seed and its number, never on the
/// batching or on another customer's history.
fn mix(seed: u64, number: u64) -> u64 {
    let mut z = seed
        .wrapping_add(number.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct Generator {
    tenants: Vec<Tenant>,
    seed: u64,
    /// Events beyond the registration are drawn uniformly from `0..=max_extra`,
    /// so their mean is `events_per_customer - 1`.
    max_extra: usize,
    now: DateTime<Utc>,
    /// Seals personal fields when set.
    master: MasterKey,
}

impl Generator {
    fn new(
        tenants: Vec<Tenant>,
        seed: u64,
        events_per_customer: usize,
        now: DateTime<Utc>,
        master: MasterKey,
    ) -> Self {
        Self {
            tenants,
            seed,
            max_extra: 2 * events_per_customer.saturating_sub(1),
            now,
            master,
        }
    }

    /// Generates every customer, handing full batches to `emit`; stops early
    /// when `emit` answers false.
    fn generate(&self, mut emit: impl FnMut(Batch) -> bool) -> anyhow::Result<()> {
        let mut batch = Batch::with_capacity(ROWS_PER_STATEMENT + self.max_extra + 1);
        let mut number: u64 = 0;
        for tenant in &self.tenants {
            for _ in 0..tenant.customers {
                let mut rng = StdRng::seed_from_u64(mix(self.seed, number));
                self.customer(&mut rng, tenant, number, &mut batch)
                    .with_context(|| format!("customer {number}"))?;
                number += 1;
                if batch.len() >= ROWS_PER_STATEMENT {
                    let full = std::mem::replace(
                        &mut batch,
                        Batch::with_capacity(ROWS_PER_STATEMENT + self.max_extra + 1),
                    );
                    if !emit(full) {
                        return Ok(());
                    }
                }
            }
        }
        if !batch.is_empty() {
            emit(batch);
        }
        Ok(())
    }

    /// One customer's whole history: the funnel (stage moves and the purchases
    /// that follow a win) interleaved at random with follow-ups (activities,
    /// tags, profile updates, reassignments), laid out over time.
    fn customer(
        &self,
        rng: &mut StdRng,
        tenant: &Tenant,
        number: u64,
        batch: &mut Batch,
    ) -> anyhow::Result<()> {
        let extra = rng.gen_range(0..=self.max_extra);
        let mut funnel = plan_funnel(rng);
        funnel.truncate(extra);
        let steps = interleave(rng, &funnel, extra - funnel.len());
        let times = plan_times(rng, self.now, steps.len() + 1);

        let mut stream = Stream::register(rng, tenant, number, &self.master, times[0], batch)?;
        for (step, &at) in steps.iter().zip(&times[1..]) {
            stream.step(rng, *step, at, batch)?;
        }
        batch.customers += 1;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Move {
        to: Stage,
        reason: Option<&'static str>,
    },
    Purchase,
    Activity,
    Tag,
    Untag,
    UpdateProfile,
    Assign,
}

/// The funnel of one customer, in order: 40% still open (somewhere from lead
/// to negotiation), 40% won (then 1–10 purchases; a few reopened for a new
/// project), 20% lost (some reopened with a reason, a few of those won after
/// all). One stage in four is skipped on the way up.
fn plan_funnel(rng: &mut StdRng) -> Vec<Step> {
    const OPEN: [Stage; 4] = [
        Stage::Lead,
        Stage::Qualified,
        Stage::Proposal,
        Stage::Negotiation,
    ];
    let mut steps = Vec::new();
    let roll = rng.gen_range(0..100);
    let (furthest, close) = match roll {
        0..=39 => (OPEN[rng.gen_range(0..OPEN.len())], None),
        40..=79 => (Stage::Negotiation, Some(Stage::ClosedWon)),
        _ => (OPEN[rng.gen_range(0..OPEN.len())], Some(Stage::ClosedLost)),
    };
    for stage in [Stage::Qualified, Stage::Proposal, Stage::Negotiation] {
        if stage > furthest {
            break;
        }
        // The stage an open or lost deal stopped at was reached for sure.
        let stopped_here = stage == furthest && close != Some(Stage::ClosedWon);
        if stopped_here || rng.gen_bool(0.75) {
            steps.push(Step::Move {
                to: stage,
                reason: None,
            });
        }
    }
    // One-off buyers are common, regulars fewer: 25% buy once, 40% two to
    // four times, the rest five to ten times (at most `most`).
    let purchases = |rng: &mut StdRng, steps: &mut Vec<Step>, most: usize| {
        let count = match rng.gen_range(0..100) {
            0..=24 => 1,
            25..=64 => rng.gen_range(2..=4),
            _ => rng.gen_range(5..=10),
        };
        steps.extend(std::iter::repeat_n(Step::Purchase, count.min(most)));
    };
    match close {
        Some(Stage::ClosedWon) => {
            steps.push(Step::Move {
                to: Stage::ClosedWon,
                reason: None,
            });
            purchases(rng, &mut steps, 10);
            if rng.gen_bool(0.06) {
                steps.push(Step::Move {
                    to: Stage::Qualified,
                    reason: Some(pick(rng, REOPEN_WON_REASONS)),
                });
                if rng.gen_bool(0.5) {
                    steps.push(Step::Move {
                        to: Stage::Proposal,
                        reason: None,
                    });
                }
            }
        }
        Some(_) => {
            steps.push(Step::Move {
                to: Stage::ClosedLost,
                reason: rng.gen_bool(0.8).then(|| pick(rng, LOST_REASONS)),
            });
            if rng.gen_bool(0.15) {
                let reopened = if rng.gen_bool(0.3) {
                    Stage::Lead
                } else {
                    Stage::Qualified
                };
                steps.push(Step::Move {
                    to: reopened,
                    reason: Some(pick(rng, REOPEN_LOST_REASONS)),
                });
                if rng.gen_bool(0.5) {
                    steps.push(Step::Move {
                        to: Stage::Proposal,
                        reason: None,
                    });
                    if rng.gen_bool(0.5) {
                        steps.push(Step::Move {
                            to: Stage::ClosedWon,
                            reason: None,
                        });
                        purchases(rng, &mut steps, 3);
                    }
                }
            }
        }
        None => {}
    }
    steps
}

/// Merges the funnel with `others` follow-ups, uniformly at random, keeping
/// the funnel's order.
fn interleave(rng: &mut StdRng, funnel: &[Step], others: usize) -> Vec<Step> {
    let mut steps = Vec::with_capacity(funnel.len() + others);
    let mut next = funnel.iter().copied();
    let (mut funnel_left, mut others_left) = (funnel.len(), others);
    while funnel_left + others_left > 0 {
        if rng.gen_range(0..funnel_left + others_left) < funnel_left {
            funnel_left -= 1;
            steps.extend(next.next());
        } else {
            others_left -= 1;
            steps.push(match rng.gen_range(0..100) {
                0..=77 => Step::Activity,
                78..=85 => Step::Tag,
                86..=87 => Step::Untag,
                88..=94 => Step::UpdateProfile,
                _ => Step::Assign,
            });
        }
    }
    steps
}

/// `count` increasing instants in the past, the first being the registration.
///
/// Each customer goes quiet some time before now (the gap) after being
/// followed for a while (the span), so recency varies the way RFM lifecycles
/// need: recent buyers (new, active, loyal), buyers gone quiet for months
/// (at risk) or longer (lost), prospects with and without recent contact.
/// Instants fall in Beijing office hours (09:00–19:00, UTC+8).
fn plan_times(rng: &mut StdRng, now: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
    let gap_days = match rng.gen_range(0..100) {
        0..=44 => 0..30,
        45..=64 => 30..120,
        65..=79 => 120..200,
        _ => 200..600,
    };
    // At least two hours: office_hours() moves an instant up to an hour later,
    // and each later event may be nudged a second further (at most
    // 2 × MAX_EVENTS_PER_CUSTOMER of them).
    let gap = 2 * MICROS_PER_HOUR
        + rng.gen_range(gap_days) * MICROS_PER_DAY
        + rng.gen_range(0..MICROS_PER_DAY);
    // Followed at a customer-specific pace (an event every 2 to 45 days),
    // within the two years.
    let span = if count > 1 {
        let longest = (HISTORY_DAYS * MICROS_PER_DAY - gap).max(MICROS_PER_DAY);
        let pace = rng.gen_range(2 * MICROS_PER_DAY..=45 * MICROS_PER_DAY);
        (pace * (count as i64 - 1)).clamp(MICROS_PER_DAY, longest)
    } else {
        0
    };
    let now_micros = now.timestamp_micros();
    let first = now_micros - gap - span;
    // The last event closes the span: the gap is the customer's real silence.
    let mut offsets: Vec<i64> = (2..count).map(|_| rng.gen_range(1..span)).collect();
    offsets.sort_unstable();
    if count > 1 {
        offsets.push(span);
    }
    let mut previous = i64::MIN;
    std::iter::once(0)
        .chain(offsets)
        .map(|offset| {
            // Strictly increasing, never later than now.
            let at = office_hours(first + offset)
                .max(previous.saturating_add(MICROS_PER_SECOND))
                .min(now_micros);
            previous = at;
            DateTime::from_timestamp_micros(at).unwrap_or(now)
        })
        .collect()
}

/// Squeezes a day's 24 hours into 09:00–19:00 Beijing time (01:00–11:00 UTC).
/// Monotonic, so sorted instants stay sorted; moves an instant at most an hour later.
fn office_hours(micros: i64) -> i64 {
    let day = micros.div_euclid(MICROS_PER_DAY) * MICROS_PER_DAY;
    let into_day = micros.rem_euclid(MICROS_PER_DAY);
    day + MICROS_PER_HOUR + into_day * 10 / 24
}

fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

fn text(value: &str) -> anyhow::Result<ShortText> {
    Ok(ShortText::parse(value)?)
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A random amount in `low..high` yuan, log-uniform (small orders are more
/// common than large ones), with two decimals.
fn yuan(rng: &mut StdRng, low: u32, high: u32) -> Decimal {
    let (low, high) = (f64::from(low) * 100.0, f64::from(high) * 100.0);
    let cents = (low * (high / low).powf(rng.gen::<f64>())).round() as i64;
    Decimal::new(cents, 2)
}

/// A deal value: whole thousands from 5,000 to 500,000 yuan.
fn deal_value(rng: &mut StdRng) -> anyhow::Result<Money> {
    let thousands = yuan(rng, 5, 500).round();
    Ok(Money::non_negative(thousands * Decimal::ONE_THOUSAND)?)
}

fn phone(rng: &mut StdRng) -> anyhow::Result<Phone> {
    let prefix = pick(rng, MOBILE_PREFIXES);
    let rest = rng.gen_range(0..100_000_000u32);
    Ok(Phone::parse(&format!("{prefix}{rest:08}"))?)
}

/// A person with the pinyin of their name.
struct Person {
    name: String,
    surname_pinyin: &'static str,
    given_pinyin: String,
}

fn person(rng: &mut StdRng) -> Person {
    let (surname, surname_pinyin) = pick(rng, SURNAMES);
    let mut name = surname.to_owned();
    let mut given_pinyin = String::new();
    // Two-character given names are the more common.
    for _ in 0..if rng.gen_bool(0.6) { 2 } else { 1 } {
        let (character, pinyin) = pick(rng, GIVEN);
        name.push_str(character);
        given_pinyin.push_str(pinyin);
    }
    Person {
        name,
        surname_pinyin,
        given_pinyin,
    }
}

/// A company name (prefix + industry word + legal form, sometimes after a
/// city), its industry and its e-mail domain.
struct Company {
    name: String,
    industry: &'static str,
    domain: String,
}

fn company(rng: &mut StdRng) -> Company {
    let (prefix, prefix_pinyin) = pick(rng, COMPANY_PREFIXES);
    let (word, industry, domain_word) = pick(rng, INDUSTRY_WORDS);
    let total: u32 = COMPANY_SUFFIXES.iter().map(|(_, weight)| weight).sum();
    let mut roll = rng.gen_range(0..total);
    let suffix = COMPANY_SUFFIXES
        .iter()
        .find(|(_, weight)| {
            let found = roll < *weight;
            roll = roll.saturating_sub(*weight);
            found
        })
        .map_or("", |(suffix, _)| suffix);
    let city = if rng.gen_bool(0.35) {
        pick(rng, CITIES)
    } else {
        ""
    };
    let tld = pick(rng, &["com", "cn", "com.cn"]);
    Company {
        name: format!("{city}{prefix}{word}{suffix}"),
        industry,
        domain: format!("{prefix_pinyin}{domain_word}.{tld}"),
    }
}

fn email(rng: &mut StdRng, person: &Person, company: Option<&Company>) -> anyhow::Result<Email> {
    let address = match (company, rng.gen_range(0..10)) {
        (Some(company), 0..=4) => {
            format!(
                "{}.{}@{}",
                person.given_pinyin, person.surname_pinyin, company.domain
            )
        }
        (_, 0..=6) => format!("{}@qq.com", rng.gen_range(100_000_000u64..3_000_000_000)),
        _ => format!(
            "{}{}{}@{}",
            person.surname_pinyin,
            person.given_pinyin,
            rng.gen_range(1..1000),
            pick(rng, FREE_MAIL)
        ),
    };
    Ok(Email::parse(&address)?)
}

/// Current state of the customer being generated: what the rules look at.
struct Stream<'a> {
    tenant: &'a Tenant,
    number: u64,
    customer: Uuid,
    id: String,
    /// The customer's data key when sealing.
    key: DataKey,
    sequence: i64,
    owner: &'static str,
    stage: Stage,
    deal_value: Money,
    tags: BTreeSet<&'static str>,
    purchases: u32,
}

impl<'a> Stream<'a> {
    fn register(
        rng: &mut StdRng,
        tenant: &'a Tenant,
        number: u64,
        master: &MasterKey,
        at: DateTime<Utc>,
        batch: &mut Batch,
    ) -> anyhow::Result<Self> {
        // Busy reps own more customers: the lower of two draws favours the first reps.
        let owner = tenant.reps[rng
            .gen_range(0..tenant.reps.len())
            .min(rng.gen_range(0..tenant.reps.len()))];
        let person = person(rng);
        let company = rng.gen_bool(0.9).then(|| company(rng));
        // Some registrations give no deal value: the service then records
        // `Money::ZERO` ("0"), but its state, rebuilt from the stored event,
        // holds the parsed "0.00", which later stage moves copy.
        let (deal, state_deal) = if rng.gen_bool(0.1) {
            (Money::ZERO, Money::non_negative(Decimal::ZERO)?)
        } else {
            let deal = deal_value(rng)?;
            (deal, deal)
        };
        let mut tags = BTreeSet::new();
        for _ in 0..rng.gen_range(0..=3) {
            tags.insert(pick(rng, TAGS));
        }
        let registered = CustomerRegistered {
            tenant_id: tenant.id,
            name: Personal::Clear(CustomerName::parse(&person.name)?),
            phone: rng
                .gen_bool(0.95)
                .then(|| phone(rng))
                .transpose()?
                .map(Personal::Clear),
            email: rng
                .gen_bool(0.8)
                .then(|| email(rng, &person, company.as_ref()))
                .transpose()?
                .map(Personal::Clear),
            industry: company.as_ref().map(|c| text(c.industry)).transpose()?,
            position: company
                .as_ref()
                .filter(|_| rng.gen_bool(0.85))
                .map(|_| text(pick(rng, POSITIONS)))
                .transpose()?,
            company: company.as_ref().map(|c| text(&c.name)).transpose()?,
            source: rng
                .gen_bool(0.9)
                .then(|| text(pick(rng, SOURCES)))
                .transpose()?,
            owner_id: UserId::parse(owner)?,
            tags: tags
                .iter()
                .map(|tag| Tag::parse(tag))
                .collect::<Result<_, _>>()?,
            deal_value: deal,
            stage: Stage::Lead,
            probability: Stage::Lead.default_probability(),
            registered_at: at,
        };
        let customer = Uuid::now_v7();
        // The service creates the key with the first event that carries
        // personal data: the registration, which always has a name.
        let key = DataKey::generate();
        batch.key_customers.push(customer);
        batch.key_tenants.push(tenant.id);
        batch.wrapped_keys.push(master.wrap(&key, customer));
        batch.key_created.push(at);
        let mut stream = Self {
            tenant,
            number,
            customer,
            id: customer.to_string(),
            key,
            sequence: 0,
            owner,
            stage: Stage::Lead,
            deal_value: state_deal,
            tags,
            purchases: 0,
        };
        // Reps register their own customers; a manager sometimes does it for them.
        let (actor, role) = if rng.gen_bool(0.15) {
            (pick(rng, MANAGERS), Role::Manager)
        } else {
            (owner, Role::Rep)
        };
        stream.append(
            CustomerEvent::CustomerRegistered(registered),
            actor,
            role,
            at,
            batch,
        )?;
        Ok(stream)
    }

    /// Mostly the owner acts; now and then a manager steps in.
    fn actor(&self, rng: &mut StdRng) -> (&'static str, Role) {
        if rng.gen_bool(0.1) {
            (pick(rng, MANAGERS), Role::Manager)
        } else {
            (self.owner, Role::Rep)
        }
    }

    fn step(
        &mut self,
        rng: &mut StdRng,
        step: Step,
        at: DateTime<Utc>,
        batch: &mut Batch,
    ) -> anyhow::Result<()> {
        let (actor, role) = self.actor(rng);
        let event = match step {
            Step::Move { to, reason } => self.move_stage(rng, to, reason)?,
            Step::Purchase => self.purchase(rng, at)?,
            Step::Tag if self.tags.len() < MAX_TAGS => {
                let free: Vec<&'static str> = TAGS
                    .iter()
                    .copied()
                    .filter(|tag| !self.tags.contains(tag))
                    .collect();
                match free.choose(rng) {
                    Some(&tag) => CustomerEvent::CustomerTagged(CustomerTagged {
                        tag: Tag::parse(tag)?,
                    }),
                    None => activity(rng, at)?,
                }
            }
            Step::Untag if !self.tags.is_empty() => {
                let tags: Vec<&'static str> = self.tags.iter().copied().collect();
                let tag = pick(rng, &tags);
                CustomerEvent::CustomerUntagged(CustomerUntagged {
                    tag: Tag::parse(tag)?,
                })
            }
            Step::UpdateProfile => profile_update(rng)?,
            Step::Assign => {
                let others: Vec<&'static str> = self
                    .tenant
                    .reps
                    .iter()
                    .copied()
                    .filter(|rep| *rep != self.owner)
                    .collect();
                let owner = pick(rng, &others);
                let (actor, role) = if rng.gen_bool(0.1) {
                    (ADMIN, Role::Admin)
                } else {
                    (pick(rng, MANAGERS), Role::Manager)
                };
                let event = CustomerEvent::CustomerAssigned(CustomerAssigned {
                    owner_id: UserId::parse(owner)?,
                    previous_owner_id: UserId::parse(self.owner)?,
                });
                return self.append(event, actor, role, at, batch);
            }
            // A tag step with no tag left to add or remove becomes a follow-up.
            Step::Activity | Step::Tag | Step::Untag => activity(rng, at)?,
        };
        self.append(event, actor, role, at, batch)
    }

    fn move_stage(
        &self,
        rng: &mut StdRng,
        to: Stage,
        reason: Option<&'static str>,
    ) -> anyhow::Result<CustomerEvent> {
        // The aggregate's rules (CustomerState::decide), checked so that a
        // planning bug fails the run instead of writing an impossible history.
        ensure!(to != self.stage, "moving to the current stage {to}");
        if self.stage.is_closed() {
            ensure!(
                matches!(to, Stage::Lead | Stage::Qualified) && reason.is_some(),
                "reopening a {} deal to {to} without a reason",
                self.stage
            );
        }
        // Quotes get revised during proposal and negotiation, and the final
        // price is often not the first one.
        let revised = matches!(to, Stage::Proposal | Stage::Negotiation | Stage::ClosedWon)
            && rng.gen_bool(0.35);
        let unquoted = self.deal_value == Money::ZERO && !to.is_closed();
        let deal_value = if revised || unquoted {
            if self.deal_value == Money::ZERO {
                deal_value(rng)?
            } else {
                let percent = Decimal::from(rng.gen_range(70..=130));
                // Whole hundreds, as quotes are.
                let hundreds = (self.deal_value.amount() * percent
                    / Decimal::ONE_HUNDRED
                    / Decimal::ONE_HUNDRED)
                    .round();
                let revised = (hundreds * Decimal::ONE_HUNDRED).max(Decimal::ONE_THOUSAND);
                Money::non_negative(revised)?
            }
        } else {
            self.deal_value
        };
        // Reps sometimes estimate the odds themselves instead of the stage default.
        let probability = match to {
            Stage::Qualified if rng.gen_bool(0.2) => Some((10, 35)),
            Stage::Proposal if rng.gen_bool(0.2) => Some((30, 65)),
            Stage::Negotiation if rng.gen_bool(0.2) => Some((55, 90)),
            _ => None,
        };
        let probability = match probability {
            Some((low, high)) => Probability::new(Decimal::new(rng.gen_range(low..=high), 2))?,
            None => to.default_probability(),
        };
        Ok(CustomerEvent::CustomerStageMoved(CustomerStageMoved {
            from: self.stage,
            to,
            deal_value,
            probability,
            reason: reason.map(text).transpose()?,
        }))
    }

    fn purchase(&self, rng: &mut StdRng, at: DateTime<Utc>) -> anyhow::Result<CustomerEvent> {
        let (category, low, high) = pick(rng, CATEGORIES);
        // The purchase's number makes the reference unique within the
        // customer, as the aggregate requires (a repeated one records nothing).
        let order_ref = rng
            .gen_bool(0.85)
            .then(|| {
                OrderRef::parse(&format!(
                    "SO{}{:04}-{}",
                    at.format("%Y%m%d"),
                    rng.gen_range(0..10_000),
                    self.purchases + 1
                ))
            })
            .transpose()?;
        Ok(CustomerEvent::PurchaseRecorded(PurchaseRecorded {
            purchase_id: Uuid::now_v7(),
            amount: Money::positive(yuan(rng, low, high))?,
            category: text(category)?,
            occurred_at: at,
            order_ref,
        }))
    }

    /// Appends `event` to the batch with the service's metadata, and applies it.
    fn append(
        &mut self,
        mut event: CustomerEvent,
        actor: &str,
        role: Role,
        at: DateTime<Utc>,
        batch: &mut Batch,
    ) -> anyhow::Result<()> {
        self.sequence += 1;
        let command = match &event {
            CustomerEvent::CustomerRegistered(_) => "RegisterCustomer",
            CustomerEvent::CustomerProfileUpdated(update) => {
                ensure!(!update.is_empty(), "an empty profile update");
                "UpdateProfile"
            }
            CustomerEvent::CustomerAssigned(assigned) => {
                ensure!(
                    assigned.owner_id.as_str() != self.owner,
                    "reassigning to the current owner"
                );
                self.owner = REPS
                    .iter()
                    .copied()
                    .find(|rep| *rep == assigned.owner_id.as_str())
                    .context("reassigning to an unknown rep")?;
                "AssignCustomer"
            }
            CustomerEvent::CustomerStageMoved(moved) => {
                self.stage = moved.to;
                self.deal_value = moved.deal_value;
                "MoveStage"
            }
            CustomerEvent::ActivityLogged(_) => "LogActivity",
            CustomerEvent::PurchaseRecorded(purchase) => {
                ensure!(purchase.amount.amount() > Decimal::ZERO, "a free purchase");
                self.purchases += 1;
                "RecordPurchase"
            }
            CustomerEvent::CustomerTagged(tagged) => {
                let tag = TAGS
                    .iter()
                    .copied()
                    .find(|tag| *tag == tagged.tag.as_str())
                    .context("an unknown tag")?;
                ensure!(
                    self.tags.insert(tag) && self.tags.len() <= MAX_TAGS,
                    "tagging {tag} again or beyond {MAX_TAGS} tags"
                );
                "TagCustomer"
            }
            CustomerEvent::CustomerUntagged(untagged) => {
                ensure!(
                    self.tags.remove(untagged.tag.as_str()),
                    "removing a tag the customer does not have"
                );
                "UntagCustomer"
            }
            CustomerEvent::CustomerArchived(_) => bail!("seeded customers are never archived"),
            CustomerEvent::CustomerForgotten(_) => bail!("seeded customers are never forgotten"),
        };
        if let CustomerEvent::CustomerProfileUpdated(update) = &event {
            if let Some(deal_value) = update.deal_value {
                self.deal_value = deal_value;
            }
        }
        event.seal_personal(&self.key, self.customer);
        let occurred_at = timestamp(at);
        let correlation_id = format!("seed-{}-{}", self.number, self.sequence);
        let metadata = Metadata {
            tenant_id: &self.tenant.id_text,
            actor,
            role: role.as_str(),
            command,
            correlation_id: &correlation_id,
            occurred_at: &occurred_at,
        };
        batch.aggregate_ids.push(self.id.clone());
        batch.sequences.push(self.sequence);
        batch.event_types.push(event.type_name());
        batch.payloads.push(serde_json::to_string(&event)?);
        batch.metadata.push(serde_json::to_string(&metadata)?);
        Ok(())
    }
}

fn activity(rng: &mut StdRng, at: DateTime<Utc>) -> anyhow::Result<CustomerEvent> {
    let (activity_type, subjects) = match rng.gen_range(0..10) {
        0..=3 => (ActivityType::Call, CALL_SUBJECTS),
        4..=5 => (ActivityType::Visit, VISIT_SUBJECTS),
        6..=7 => (ActivityType::Email, EMAIL_SUBJECTS),
        _ => (ActivityType::Meeting, MEETING_SUBJECTS),
    };
    let valued = matches!(activity_type, ActivityType::Visit | ActivityType::Meeting);
    Ok(CustomerEvent::ActivityLogged(ActivityLogged {
        activity_id: Uuid::now_v7(),
        activity_type,
        subject: rng
            .gen_bool(0.95)
            .then(|| text(pick(rng, subjects)))
            .transpose()?,
        notes: rng
            .gen_bool(0.4)
            .then(|| text(pick(rng, NOTES)))
            .transpose()?
            .map(Personal::Clear),
        occurred_at: at,
        value: (valued && rng.gen_bool(0.15))
            .then(|| deal_value(rng))
            .transpose()?,
    }))
}

/// A few changed fields, never none (the aggregate rejects an empty update).
fn profile_update(rng: &mut StdRng) -> anyhow::Result<CustomerEvent> {
    let mut update = CustomerProfileUpdated::default();
    while update.is_empty() {
        if rng.gen_bool(0.3) {
            update.phone = Some(Some(Personal::Clear(phone(rng)?)));
        }
        if rng.gen_bool(0.2) {
            let person = person(rng);
            // Now and then a customer asks to be removed from e-mail.
            update.email = Some(if rng.gen_bool(0.1) {
                None
            } else {
                Some(Personal::Clear(email(rng, &person, None)?))
            });
        }
        if rng.gen_bool(0.3) {
            update.position = Some(Some(text(pick(rng, POSITIONS))?));
        }
        if rng.gen_bool(0.3) {
            update.deal_value = Some(deal_value(rng)?);
        }
        if rng.gen_bool(0.1) {
            update.source = Some(Some(text(pick(rng, SOURCES))?));
        }
        if rng.gen_bool(0.05) {
            let company = company(rng);
            update.company = Some(Some(text(&company.name)?));
            update.industry = Some(Some(text(company.industry)?));
        }
    }
    Ok(CustomerEvent::CustomerProfileUpdated(update))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(tenants: usize, customers: usize, largest: usize) -> SeedOptions {
        SeedOptions {
            tenants,
            customers,
            largest_tenant: largest,
            events_per_customer: 10,
            seed: 7,
        }
    }

    #[test]
    fn customers_are_spread_evenly_after_the_largest_tenant() {
        let sizes = |o: SeedOptions| o.tenant_sizes().expect("valid options");
        assert_eq!(sizes(options(3, 300, 150)), vec![150, 75, 75]);
        assert_eq!(sizes(options(3, 301, 150)), vec![150, 76, 75]);
        assert_eq!(sizes(options(4, 10, 4)), vec![4, 2, 2, 2]);
        assert_eq!(sizes(options(1, 500, 500)), vec![500]);
        assert_eq!(sizes(options(2, 5, 5)), vec![5, 0]);
    }

    #[test]
    fn options_that_do_not_add_up_are_refused() {
        assert!(options(0, 10, 5).tenant_sizes().is_err());
        assert!(options(2, 10, 11).tenant_sizes().is_err());
        assert!(options(1, 10, 5).tenant_sizes().is_err());
        assert!(
            options(3, 100, 10).tenant_sizes().is_err(),
            "largest smaller than the others"
        );
        let mut no_events = options(2, 10, 5);
        no_events.events_per_customer = 0;
        assert!(no_events.tenant_sizes().is_err());
    }

    /// Everything but the ids (and timestamps, fixed here by `now`).
    fn generated(seed: u64) -> Vec<(i64, &'static str, serde_json::Value, String)> {
        let tenant = Tenant::new(Uuid::from_u128(1), 0, 200, seed);
        let now = DateTime::from_timestamp(1_750_000_000, 0).expect("instant");
        let master = MasterKey::from_hex(&"ab".repeat(32)).expect("master key");
        let generator = Generator::new(vec![tenant], seed, 8, now, master);
        let mut rows = Vec::new();
        generator
            .generate(|batch| {
                for index in 0..batch.len() {
                    let mut payload: serde_json::Value =
                        serde_json::from_str(&batch.payloads[index]).expect("payload");
                    for inner in payload
                        .as_object_mut()
                        .into_iter()
                        .flat_map(|o| o.values_mut())
                    {
                        if let Some(fields) = inner.as_object_mut() {
                            fields.remove("activity_id");
                            fields.remove("purchase_id");
                            // Keys and nonces are random: compare that a field is sealed.
                            for value in fields.values_mut() {
                                if value
                                    .as_str()
                                    .is_some_and(events::personal::Sealed::is_sealed)
                                {
                                    *value = serde_json::Value::from("<sealed>");
                                }
                            }
                        }
                    }
                    rows.push((
                        batch.sequences[index],
                        batch.event_types[index],
                        payload,
                        batch.metadata[index].clone(),
                    ));
                }
                true
            })
            .expect("generate");
        rows
    }

    #[test]
    fn the_same_seed_gives_the_same_histories() {
        let first = generated(11);
        assert!(first.len() > 1_000, "{} events", first.len());
        assert_eq!(first, generated(11));
        assert_ne!(first, generated(12));
    }

    #[test]
    fn office_hours_keep_order_and_stay_within_an_hour() {
        let mut previous = i64::MIN;
        for micros in (0..3 * MICROS_PER_DAY).step_by(7_654_321) {
            let mapped = office_hours(micros);
            assert!(mapped >= previous);
            assert!(mapped - micros <= MICROS_PER_HOUR);
            let hour = mapped.rem_euclid(MICROS_PER_DAY) / MICROS_PER_HOUR;
            assert!((1..11).contains(&hour), "{hour} UTC");
            previous = mapped;
        }
    }
}
