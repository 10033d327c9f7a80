#!/usr/bin/env python3
"""Proposes the materials of the 500 service items (config/service-items.toml).

The plan's Annex 1 lists the items by name and department only; it does not say which materials
each requires. This script derives a proposal from each item's name and department, by the rules
below, and marks it `source = "assumed"` so the province's staff can review it item by item (an
item they have confirmed is set to `source = "plan"` by hand and is kept as it is when the script
runs again).

    python3 config/tools/propose_materials.py            # rewrites config/service-items.toml
    python3 config/tools/propose_materials.py --check    # exits 1 if the file would change

Rules, in order:
1. Who applies: an organisation when the item opens or sets up a body (开办, 设立, 筹设) or
   names an enterprise, or licenses, registers or approves a business or a facility (许可, 审批, 备案, 资质, 设立, 核发, 经营...), unless the name says a person
   (个人, 居民, 职工, 人员, 教师, 医师, 驾驶员, 考试, 报名, 退休...); otherwise a person.
2. Identity: a person brings the resident ID card, an organisation the business licence; both
   fill the applicant's name and number on the form, and neither may be replaced by a
   commitment (identity is what a commitment would rest on).
3. Keywords of the name add the certificates the item's subject needs (KEYWORDS below), if the
   certificate admits the applicant (a person's driving licence never for a company).
4. Department defaults (DEPARTMENT_DEFAULTS) add the certificate a department's items usually
   check, when no keyword added one.
5. Commitment (告知承诺): allowed for the non-identity materials of items in the plan's seven
   areas (户籍管理, 市场主体准营, 资格考试, 社会保险, 社会救助, 健康体检, 法律服务), matched
   by COMMITMENT_AREAS.
6. Paper materials no certificate supplies (a lease, a site plan) come from PAPER_KEYWORDS; they
   are presented on paper or, where rule 5 allows, committed to.
7. Every form also has the fields only the applicant can write (APPLICANT_FIELDS).
"""

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ITEMS = ROOT / "config" / "service-items.toml"
CERTIFICATES = ROOT / "config" / "certificates.toml"

DEPARTMENTS = {
    "省教育厅": "education",
    "省民族宗教委": "ethnic-religious-affairs",
    "省公安厅": "public-security",
    "省民政厅": "civil-affairs",
    "省司法厅": "justice",
    "省人力资源社会保障厅": "human-resources-social-security",
    "省自然资源厅": "natural-resources",
    "省生态环境厅": "ecology-environment",
    "省住房城乡建设厅": "housing-construction",
    "省交通运输厅": "transport",
    "省农业农村厅": "agriculture-rural-affairs",
    "省海洋局": "ocean",
    "省商务厅": "commerce",
    "省文化和旅游厅": "culture-tourism",
    "省卫生健康委": "health",
    "省退役军人厅": "veterans-affairs",
    "省应急厅": "emergency-management",
    "省广电局": "radio-television",
    "省体育局": "sport",
    "省医保局": "healthcare-security",
    "省市场监管局": "market-regulation",
    "省畜牧局": "animal-husbandry",
    "省药监局": "drug-administration",
    "省税务局": "taxation",
    "省人防办": "civil-air-defence",
    "国网山东省电力公司": "state-grid-shandong",
}

ORGANISATION_WORDS = ["许可", "审批", "备案", "资质", "设立", "核发", "经营", "登记证", "企业", "单位",
                      "机构", "场所", "公司", "注销", "增值税", "发票", "税控", "生产", "运输", "施工"]
PERSON_WORDS = ["个人", "居民", "职工", "人员", "教师", "医师", "护士", "驾驶员", "考试", "报名", "退休",
                "养老", "婚姻", "公证", "入学", "入园", "学生", "持枪", "身份证", "户口", "出生", "献血",
                "死亡", "丧", "抚恤", "优待", "残疾", "伤残", "失业", "就业", "求职", "社会保障卡", "医保",
                "参保", "律师", "执业注册", "资格认定", "资格确认", "乡村兽医", "导游", "病历", "婚前",
                "计划生育", "家庭", "子女", "退役", "军人", "补贴申领", "待遇", "居住证", "所得税"]

# (keyword regex, certificate codes): what an item whose name matches needs besides identity.
KEYWORDS = [
    (r"结婚|婚姻登记|婚前|夫妻|配偶|丧偶", ["marriage-record-certificate"]),
    (r"再婚|未再婚", ["marriage-certificate"]),
    (r"离婚", ["divorce-certificate"]),
    (r"出生|新生儿|收养|子女|抚养", ["medical-birth-certificate"]),
    (r"死亡|丧葬|遗属|抚恤|遗产|继承", ["medical-death-certificate", "household-cancellation-certificate"]),
    (r"殡葬|火化|骨灰|丧葬|抚恤|死亡户籍注销|宣告死亡|正常死亡", ["cremation-certificate"]),
    (r"临时身份|身份证", ["temporary-identity-certificate"]),
    (r"居住证|户口迁移|落户", ["residence-permit"]),
    (r"驾驶员|驾驶|从业资格", ["driving-licence"]),
    (r"机动车|车辆|货运|客运|出租汽车|道路运输证", ["vehicle-licence", "vehicle-inspection-mark"]),
    (r"检验|年审|营运证", ["vehicle-inspection-mark"]),
    (r"学历证明|学籍|学生|在读", ["academic-record-certificate"]),
    (r"入园|入学", ["medical-birth-certificate"]),
    (r"学历|毕业|教师资格|考试报名|资格考试|资格.*报名", ["academic-diploma"]),
    (r"学位|学历公证|留学", ["degree-certificate"]),
    (r"报到|就业登记|招聘", ["employment-registration-card"]),
    (r"就业|失业|创业|求职|培训补贴|技能提升", ["employment-entrepreneurship-card"]),
    (r"职称|专业技术|职业资格|执业资格|注册.*师", ["professional-qualification-certificate"]),
    (r"社会保障卡|社会保险|养老保险|工伤|退休|养老金|丧葬补助", ["social-security-card"]),
    (r"医保|医疗保险|参保|医疗费|生育保险|异地就医", ["medical-insurance-voucher"]),
    (r"献血|用血", ["blood-donation-certificate"]),
    (r"老年|高龄|优待", ["senior-citizen-card"]),
    (r"残疾|伤残", ["disability-certificate"]),
    (r"计划生育|生育|独生子女", ["family-planning-booklet"]),
    (r"特种作业", ["special-operations-permit"]),
    (r"安全生产知识|主要负责人|安全管理人员|安全生产管理|安全工程师|押运员|装卸管理", ["work-safety-competence-certificate"]),
    (r"不动产|房屋|住房|土地|宅基地|房产", ["real-estate-title-certificate"]),
    (r"抵押|登记证明", ["real-estate-registration-certificate"]),
    (r"住房保障|公租房|查询|经济适用", ["real-estate-inquiry-certificate"]),
    (r"医师|执业注册|医生", ["physician-practising-certificate"]),
    (r"母婴|产前诊断|助产|遗传病", ["maternal-infant-health-licence"]),
    (r"健康证|从业人员健康|健康体检|体检", ["health-certificate"]),
    (r"公共场所|卫生许可|饮用水|消毒产品", ["hygiene-licence"]),
    (r"食品生产|食品添加剂", ["food-production-licence"]),
    (r"食品经营|餐饮|食品销售", ["food-business-licence"]),
    (r"药品经营|药品零售|药品批发|医疗器械经营", ["drug-business-licence"]),
    (r"名称变更|地址变更|住所变更|变更登记|信息变更|法人变更", ["enterprise-change-certificate"]),
    (r"社会团体", ["social-organisation-registration"]),
    (r"民办非企业|民办.*学校|培训机构|职业培训", ["private-non-enterprise-registration"]),
    (r"医疗机构|诊所|血站|单采血浆|医院", ["medical-institution-licence"]),
    (r"建筑业企业|建筑施工|施工许可|施工作业", ["construction-enterprise-qualification"]),
    (r"建筑施工企业安全生产", ["construction-work-safety-licence"]),
    (r"房地产开发", ["real-estate-developer-qualification"]),
    (r"检测机构|质量检测|检验检测", ["construction-testing-qualification"]),
    (r"勘察|测绘|规划编制|设计资质", ["engineering-survey-qualification"]),
    (r"建设工程|规划许可|建设项目|用地", ["construction-planning-permit"]),
    (r"危险化学品|易制毒|危险货物|剧毒|民用爆炸", ["hazardous-chemicals-licence"]),
    (r"采矿|矿山|矿产|矿业", ["mining-licence"]),
]

# Department id → the certificates its items usually check, when no keyword matched.
DEPARTMENT_DEFAULTS = {
    "human-resources-social-security": ["social-security-card"],
    "healthcare-security": ["medical-insurance-voucher"],
    "health": ["medical-institution-licence", "health-certificate"],
    "housing-construction": ["construction-enterprise-qualification"],
    "natural-resources": ["real-estate-title-certificate", "construction-planning-permit"],
    "market-regulation": ["enterprise-change-certificate"],
    "transport": ["driving-licence", "vehicle-licence"],
    "veterans-affairs": ["disability-certificate"],
    "civil-affairs": ["marriage-record-certificate"],
    "drug-administration": ["drug-business-licence"],
}

# The plan's seven areas for 告知承诺 ("户籍管理、市场主体准营、资格考试、社会保险、社会救助、健康体检、法律服务").
COMMITMENT_AREAS = r"户口|户籍|居住证|落户|设立|开办|准营|经营许可|许可证核发|考试|报名|资格|社会保险|养老|工伤|失业|医保|参保|救助|低保|特困|临时救助|体检|健康|公证|法律援助|律师|司法鉴定|调解"

# (keyword regex, paper material id, name): materials no certificate supplies.
PAPER_KEYWORDS = [
    (r"居住证|户口迁移|落户", "lease-or-residence-proof", "合法稳定住所证明（租赁合同等）"),
    (r"设立|开办|经营许可|生产许可|场所", "premises-plan", "经营场所平面布局图"),
    (r"公证", "notarisation-subject-documents", "公证事项相关证明材料"),
    (r"审批|许可", "technical-documents", "技术或安全条件说明材料"),
    (r"救助|低保|特困|补贴|资助", "income-statement", "家庭收入情况说明"),
]

# Form fields each material fills, by certificate: the record fields an applicant would
# otherwise copy by hand (`holder_name` is the record's holder, every certificate has it).
FORM_FIELDS = {
    "resident-id-card": ["holder_name", "id_number", "sex", "birth_date", "address"],
    "business-licence": ["holder_name", "credit_code", "legal_representative", "address", "entity_type"],
}
APPLICANT_FIELDS = ["contact_phone", "application_reason"]


def load_certificates():
    data = tomllib.loads(CERTIFICATES.read_text(encoding="utf-8"))
    return {c["code"]: c for c in data["certificate"]}


def applicant_of(name):
    if re.search(r"开办|设立|筹设|企业", name):
        return "organisation"
    if any(w in name for w in PERSON_WORDS):
        return "person"
    if any(w in name for w in ORGANISATION_WORDS):
        return "organisation"
    return "person"


def admits(certificate, applicant):
    return certificate["holder"] in (applicant, "either")


def form_fields(certificate):
    if certificate["code"] in FORM_FIELDS:
        return FORM_FIELDS[certificate["code"]]
    fields = [f["name"] for f in certificate.get("fields", []) if f["kind"] != "resident-id"]
    return ["holder_name"] + fields[:3]


def propose(item, certificates):
    name = item["name_zh"]
    department = DEPARTMENTS[item["department_zh"]]
    applicant = applicant_of(name)
    identity = "resident-id-card" if applicant == "person" else "business-licence"
    codes = [identity]
    for pattern, adds in KEYWORDS:
        if re.search(pattern, name):
            codes += [c for c in adds if admits(certificates[c], applicant)]
    if len(codes) == 1:
        defaults = DEPARTMENT_DEFAULTS.get(department, [])
        codes += [c for c in defaults if admits(certificates[c], applicant)][:1]
    seen = []
    for c in codes:
        if c not in seen:
            seen.append(c)
    committable = re.search(COMMITMENT_AREAS, name) is not None
    materials = [
        {
            "certificate": c,
            "fields": form_fields(certificates[c]),
            "commitment": committable and c != identity,
        }
        for c in seen
    ]
    for pattern, paper, paper_name in PAPER_KEYWORDS:
        if re.search(pattern, name):
            materials.append({"paper": paper, "name_zh": paper_name, "commitment": committable})
            break
    return department, applicant, materials


def toml_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def toml_list(values):
    return "[" + ", ".join(toml_string(v) for v in values) + "]"


def render_material(m):
    parts = []
    if "certificate" in m:
        parts.append(f"certificate = {toml_string(m['certificate'])}")
        parts.append(f"fields = {toml_list(m['fields'])}")
    else:
        parts.append(f"paper = {toml_string(m['paper'])}")
        parts.append(f"name_zh = {toml_string(m['name_zh'])}")
    if m["commitment"]:
        parts.append("commitment = true")
    return "  { " + ", ".join(parts) + " },"


HEADER = '''# The 500 service items of the plan's Annex 1 (shared/data/service-items.tsv), by row number, with
# the materials each requires: the materials library of 免证办. Each entry deserializes into
# `ServiceItem` (wire/src/catalogue/model.rs); `gateway catalogue check` reports its coverage.
#
# no                Annex 1 row number
# department_zh     the department as Annex 1 names it
# name_zh           the item as Annex 1 names it (empty where illegible)
# illegible         the row cannot be read in the source document (no materials then)
# department        our id of that department: the scope a holder's consent may name
#                   (`department:<id>`), and the post-check queue of a commitment to a paper material
# applicant         who applies: "person" or "organisation" (the holder kind of the code shown)
# source            where the materials come from: "plan" (confirmed by the province's staff) or
#                   "assumed" (proposed by config/tools/propose_materials.py from the item's name and
#                   department, awaiting review). Figures over the two are reported apart.
# applicant_fields  form fields only the applicant can write (no certificate supplies them)
# materials         what the applicant would otherwise bring, one of:
#   { certificate = "<code>", fields = [...], commitment = true|false }
#                   pulled from the issuing department by data sharing; `fields` are the form
#                   fields it fills, named as the certificate's record fields (`holder_name` is the
#                   record's holder); `commitment`: a signed commitment (告知承诺) may replace it
#                   when it cannot be pulled
#   { paper = "<id>", name_zh = "...", commitment = true|false }
#                   no certificate supplies it: presented on paper, or committed to where allowed
#
# The proposal's rules are written at the top of config/tools/propose_materials.py.
'''


def main():
    check = "--check" in sys.argv[1:]
    certificates = load_certificates()
    current = tomllib.loads(ITEMS.read_text(encoding="utf-8"))["item"]
    out = [HEADER]
    for item in current:
        lines = ["[[item]]", f"no = {item['no']}", f"department_zh = {toml_string(item['department_zh'])}",
                 f"name_zh = {toml_string(item['name_zh'])}"]
        department = DEPARTMENTS[item["department_zh"]]
        if item.get("illegible"):
            lines += ["illegible = true", f"department = {toml_string(department)}"]
        elif item.get("source") == "plan":
            # Reviewed by the province's staff: kept as it is.
            lines += [f"department = {toml_string(item['department'])}",
                      f"applicant = {toml_string(item['applicant'])}", 'source = "plan"',
                      f"applicant_fields = {toml_list(item.get('applicant_fields', []))}",
                      "materials = ["]
            lines += [render_material(m) for m in item.get("materials", [])]
            lines.append("]")
        else:
            department, applicant, materials = propose(item, certificates)
            lines += [f"department = {toml_string(department)}", f"applicant = {toml_string(applicant)}",
                      'source = "assumed"', f"applicant_fields = {toml_list(APPLICANT_FIELDS)}",
                      "materials = ["]
            lines += [render_material(m) for m in materials]
            lines.append("]")
        out.append("\n".join(lines) + "\n")
    text = "\n".join(out)
    if check:
        if ITEMS.read_text(encoding="utf-8") != text:
            print(f"{ITEMS} differs from the proposal (run without --check to rewrite it)")
            sys.exit(1)
        return
    ITEMS.write_text(text, encoding="utf-8")
    used = {m["certificate"] for item in tomllib.loads(text)["item"] for m in item.get("materials", [])
            if "certificate" in m}
    missing = sorted(set(certificates) - used)
    print(f"wrote {ITEMS}: {len(current)} items; certificates in no item: {missing or 'none'}")


if __name__ == "__main__":
    main()
