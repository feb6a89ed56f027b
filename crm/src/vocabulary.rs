//! The words realistic customers are made of, shared by `crm seed` (bulk
//! histories) and `crm serve --demo` (the demo tenant). Pinyin next to the
//! characters makes e-mail addresses that fit the names and companies.
//!
//! The demo draws from the commonest words: prefixes of the seed's lists
//! (its own choice of how many), plus the few `DEMO_*` lists below where its
//! words are its own.

use rand::Rng;

/// One of `items`, uniformly.
pub fn pick<T: Copy>(rng: &mut impl Rng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

/// Surnames, commonest first, with their pinyin.
pub const SURNAMES: &[(&str, &str)] = &[
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

/// Given-name characters, commonest first, with their pinyin.
pub const GIVEN: &[(&str, &str)] = &[
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

/// Cities a company name may start with.
pub const CITIES: &[&str] = &[
    "北京", "上海", "广州", "深圳", "杭州", "苏州", "南京", "成都", "武汉", "西安", "重庆", "天津",
    "长沙", "郑州", "青岛", "厦门", "宁波", "合肥", "东莞", "佛山",
];

/// Trade-name words that start a company name, with their pinyin.
pub const COMPANY_PREFIXES: &[(&str, &str)] = &[
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
pub const INDUSTRY_WORDS: &[(&str, &str, &str)] = &[
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
pub const COMPANY_SUFFIXES: &[(&str, u32)] = &[
    ("有限公司", 45),
    ("股份有限公司", 10),
    ("集团", 8),
    ("有限责任公司", 7),
    ("", 30),
];

/// Job titles of customer contacts.
pub const POSITIONS: &[&str] = &[
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

/// Where a lead came from.
pub const SOURCES: &[&str] = &[
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

/// Customer tags: more than a customer may carry (`command::aggregate::MAX_TAGS`).
pub const TAGS: &[&str] = &[
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

/// Why a deal was lost.
pub const LOST_REASONS: &[&str] = &[
    "预算不足",
    "选择了竞争对手",
    "项目延期",
    "需求变更",
    "价格过高",
    "联系不上决策人",
    "内部审批未通过",
];

/// Why a lost deal is reopened.
pub const REOPEN_LOST_REASONS: &[&str] = &[
    "客户重新启动项目",
    "预算已重新批复",
    "与竞品合作不顺利",
    "新负责人重新评估",
    "客户主动联系",
];

/// Why a won deal is reopened.
pub const REOPEN_WON_REASONS: &[&str] = &["新一期项目需求", "扩容采购意向", "续约谈判"];

/// Subjects of activities, by type: visits,
pub const VISIT_SUBJECTS: &[&str] = &[
    "上门拜访",
    "现场调研",
    "产品演示",
    "拜访关键决策人",
    "售后巡检",
];
/// calls,
pub const CALL_SUBJECTS: &[&str] = &[
    "电话跟进",
    "需求沟通",
    "报价跟进",
    "售后回访",
    "续费提醒",
    "约见面时间",
];
/// e-mails,
pub const EMAIL_SUBJECTS: &[&str] = &[
    "发送报价单",
    "发送产品方案",
    "合同条款确认",
    "发送案例资料",
    "发票寄送通知",
];
/// and meetings.
pub const MEETING_SUBJECTS: &[&str] = &[
    "方案讲解会",
    "商务谈判",
    "技术交流会",
    "年度合作复盘",
    "项目启动会",
];

/// A rep's notes on an activity.
pub const NOTES: &[&str] = &[
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
pub const CATEGORIES: &[(&str, u32, u32)] = &[
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
pub const MOBILE_PREFIXES: &[u16] = &[
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 147, 150, 151, 152, 153, 155, 156, 157, 158,
    159, 166, 173, 175, 176, 177, 178, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 191, 193,
    195, 196, 197, 198, 199,
];

/// Free e-mail providers.
pub const FREE_MAIL: &[&str] = &[
    "163.com",
    "126.com",
    "sina.com",
    "foxmail.com",
    "aliyun.com",
];

// ---------------------------------------------------------------------------
// The demo's own words. Changing them changes the tenant `--demo` creates.
// ---------------------------------------------------------------------------

/// Common two-character given names (the demo's; the seed pairs characters of [`GIVEN`]).
pub const DEMO_GIVEN_PAIRS: &[&str] = &["秀英", "建国", "海燕", "志强", "丽华"];

/// Whole company names with a coarse industry.
pub const DEMO_COMPANIES: &[(&str, &str)] = &[
    ("星辰科技有限公司", "科技"),
    ("华美零售连锁", "零售"),
    ("恒达精密制造", "制造业"),
    ("绿地置业顾问", "房地产"),
    ("优品生活服务", "服务业"),
    ("东方教育咨询", "教育"),
    ("鑫源物流", "物流"),
    ("云帆软件", "科技"),
    ("金穗餐饮管理", "服务业"),
    ("宏图建材", "制造业"),
    ("康宁医疗器械", "医疗"),
    ("锦绣家居", "零售"),
];

/// Like the first five [`SOURCES`], with 官网 where the seed says 官网咨询.
pub const DEMO_SOURCES: &[&str] = &["展会", "官网", "转介绍", "电话营销", "微信公众号"];

/// Five of [`POSITIONS`].
pub const DEMO_POSITIONS: &[&str] = &["总经理", "采购经理", "IT主管", "财务总监", "运营总监"];

/// Why the demo's deals were won.
pub const DEMO_WON_REASONS: &[&str] =
    &["方案通过客户评审", "价格与付款条件谈妥", "试用效果超出预期"];

/// Follow-up subjects for any kind of activity.
pub const DEMO_SUBJECTS: &[&str] = &["需求沟通", "方案讲解", "报价跟进", "售后回访"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_positions_are_shared_ones() {
        for position in DEMO_POSITIONS {
            assert!(POSITIONS.contains(position), "{position}");
        }
    }
}
