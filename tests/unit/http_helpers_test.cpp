#include <gtest/gtest.h>

#include "api/http.hpp"

using namespace ds::api;
using nlohmann::json;

namespace {

Request with_headers(std::vector<std::pair<std::string, std::string>> headers) {
  Request r;
  r.headers = std::move(headers);
  return r;
}

// A request with a JSON body, as the SDKs and pages send it.
Request json_request(std::string body) {
  auto r = with_headers({{"content-type", "application/json"}});
  r.body = std::move(body);
  return r;
}

}  // namespace

TEST(HttpRequest, HeaderLookupByLowerCaseName) {
  auto r = with_headers({{"content-type", "application/json"}});
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_FALSE(r.header("origin"));
}

TEST(HttpRequest, CookieIsFoundAmongSeveral) {
  auto r = with_headers({{"cookie", "theme=dark; ds_session=dss_abc;other=1"}});
  EXPECT_EQ(r.cookie("ds_session"), "dss_abc");
  EXPECT_EQ(r.cookie("other"), "1");
  EXPECT_EQ(r.cookie("theme"), "dark");
}

TEST(HttpRequest, CookieNameMustMatchExactly) {
  auto r = with_headers({{"cookie", "xds_session=evil; ds_session_old=1"}});
  EXPECT_FALSE(r.cookie("ds_session"));
}

TEST(HttpRequest, CookieFoundInASecondCookieHeader) {
  auto r = with_headers({{"cookie", "a=1"}, {"cookie", "ds_session=dss_x"}});
  EXPECT_EQ(r.cookie("ds_session"), "dss_x");
}

TEST(HttpRequest, QueryParametersAreDecoded) {
  Request r;
  r.query = "limit=10&before=&q=a+b%21&flag";
  EXPECT_EQ(r.query_param("limit"), "10");
  EXPECT_EQ(r.query_param("before"), "");
  EXPECT_EQ(r.query_param("q"), "a b!");
  EXPECT_EQ(r.query_param("flag"), "");
  EXPECT_FALSE(r.query_param("missing"));
}

TEST(UrlDecode, DecodesPercentEscapes) {
  EXPECT_EQ(url_decode("a%20b%2Fc", false), "a b/c");
  EXPECT_EQ(url_decode("%e2%82%ac", false), "\xE2\x82\xAC");
}

TEST(UrlDecode, PlusIsSpaceOnlyWhenAsked) {
  EXPECT_EQ(url_decode("a+b", true), "a b");
  EXPECT_EQ(url_decode("a+b", false), "a+b");
}

TEST(UrlDecode, LeavesBrokenEscapesAlone) {
  EXPECT_EQ(url_decode("100%", false), "100%");
  EXPECT_EQ(url_decode("%4", false), "%4");
  EXPECT_EQ(url_decode("%zz", false), "%zz");
  EXPECT_EQ(url_decode("%41", false), "A");
}

TEST(JsonResponse, ErrorHasTheSpecShape) {
  auto r = error_response(409, "username_taken", "that username is taken");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.content_type, "application/json");
  auto j = json::parse(r.body);
  EXPECT_EQ(j["error"]["code"], "username_taken");
  EXPECT_EQ(j["error"]["message"], "that username is taken");
}

TEST(JsonResponse, InvalidUtf8IsReplacedNotThrown) {
  auto r = json_response(200, {{"name", std::string("bad\xFF")}});
  EXPECT_NO_THROW({ auto parsed = json::parse(r.body); });
}

TEST(JsonResponse, NoContentHasNoBodyOrType) {
  auto r = no_content();
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(r.content_type.empty());
}

TEST(ParseJsonObject, AcceptsAnObject) {
  auto r = json_request(R"({"a": 1})");
  auto j = parse_json_object(r);
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["a"], 1);
}

TEST(ParseJsonObject, RejectsMalformedAndNonObjects) {
  for (const char* body : {"", "{", "[]", "1", "\"s\"", "null", "{\"a\":1,}", "{'a':1}"}) {
    auto r = json_request(body);
    auto j = parse_json_object(r);
    ASSERT_FALSE(j.ok()) << body;
    EXPECT_EQ(j.error().kind, ds::ErrorKind::kInvalid);
    EXPECT_EQ(j.error().code, "invalid_json");
  }
}

TEST(ParseJsonObject, RejectsInvalidUtf8InStrings) {
  auto r = json_request("{\"a\":\"\xFF\"}");
  EXPECT_FALSE(parse_json_object(r).ok());
}

TEST(ParseJsonObject, SurvivesDeepNesting) {
  auto r = json_request("");
  r.body = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_FALSE(parse_json_object(r).ok());
  r.body = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_NO_FATAL_FAILURE((void)parse_json_object(r));
}

// What a cross-site form or a sandboxed page's fetch can send without a preflight (text/plain,
// forms) is refused before the body is read, even when the body is valid JSON.
TEST(ParseJsonObject, TakesOnlyApplicationJsonElse415) {
  const std::string body = R"({"login":"alice","password":"correct horse battery"})";
  for (const char* type :
       {"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x", "application/jsonx", "application/json-seq", ""}) {
    auto r = json_request(body);
    r.headers = {{"content-type", type}};
    auto j = parse_json_object(r);
    ASSERT_FALSE(j.ok()) << type;
    EXPECT_EQ(j.error().kind, ds::ErrorKind::kWrongMediaType) << type;
    EXPECT_EQ(j.error().code, "unsupported_media_type");
    EXPECT_NE(j.error().message.find("application/json"), std::string::npos);
    EXPECT_EQ(error_response(j.error()).status, 415);
  }
  auto none = json_request(body);
  none.headers.clear();
  EXPECT_EQ(parse_json_object(none).error().kind, ds::ErrorKind::kWrongMediaType);
  for (const char* type : {"application/json", "application/json; charset=utf-8",
                           "Application/JSON", " application/json "}) {
    auto r = json_request(body);
    r.headers = {{"content-type", type}};
    EXPECT_TRUE(parse_json_object(r).ok()) << type;
  }
}

TEST(StringField, MissingOrNullIsMissingField) {
  auto body = json::parse(R"({"b": null})");
  EXPECT_EQ(string_field(body, "a").error().code, "missing_field");
  EXPECT_EQ(string_field(body, "b").error().code, "missing_field");
}

TEST(StringField, WrongTypeIsInvalidType) {
  auto body = json::parse(R"({"a": 1, "b": ["x"], "c": {"x": 1}, "d": true})");
  for (const char* name : {"a", "b", "c", "d"}) {
    auto v = string_field(body, name);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error().kind, ds::ErrorKind::kInvalid);
    EXPECT_EQ(v.error().code, "invalid_type");
  }
}

TEST(StringField, ReturnsTheString) {
  EXPECT_EQ(*string_field(json::parse(R"({"a": "x y"})"), "a"), "x y");
}

TEST(IntegerField, AcceptsIntegersAndWholeFloats) {
  auto body = json::parse(R"({"a": 12, "b": -3, "c": 12.0})");
  EXPECT_EQ(*integer_field(body, "a"), 12);
  EXPECT_EQ(*integer_field(body, "b"), -3);
  EXPECT_EQ(*integer_field(body, "c"), 12);
}

TEST(IntegerField, RejectsFractionsStringsAndHugeFloats) {
  auto body = json::parse(R"({"a": 1.5, "b": "12", "c": 1e300, "d": true})");
  for (const char* name : {"a", "b", "c", "d"}) {
    auto v = integer_field(body, name);
    ASSERT_FALSE(v.ok()) << name;
    EXPECT_EQ(v.error().code, "invalid_type");
  }
  EXPECT_EQ(integer_field(body, "missing").error().code, "missing_field");
}

TEST(IntegerField, RejectsUnsignedValuesPastInt64InsteadOfWrapping) {
  auto body = json::parse(R"({"a": 18446744073709551615, "b": 9223372036854775808,
                              "c": 9223372036854775807})");
  EXPECT_FALSE(integer_field(body, "a").ok());
  EXPECT_FALSE(integer_field(body, "b").ok());
  EXPECT_EQ(*integer_field(body, "c"), 9223372036854775807LL);
}

TEST(BoolField, AcceptsOnlyBooleans) {
  auto body = json::parse(R"({"a": true, "b": 1, "c": "true"})");
  EXPECT_TRUE(*bool_field(body, "a"));
  EXPECT_FALSE(bool_field(body, "b").ok());
  EXPECT_FALSE(bool_field(body, "c").ok());
  EXPECT_EQ(bool_field(body, "x").error().code, "missing_field");
}

TEST(HttpStatus, EveryErrorKindHasItsDocumentedStatus) {
  using ds::ErrorKind;
  const std::pair<ErrorKind, int> table[] = {
      {ErrorKind::kInvalid, 400},         {ErrorKind::kUnauthorized, 401},
      {ErrorKind::kPaymentRequired, 402}, {ErrorKind::kForbidden, 403},
      {ErrorKind::kNotFound, 404},        {ErrorKind::kConflict, 409},
      {ErrorKind::kTooLarge, 413},        {ErrorKind::kWrongMediaType, 415},
      {ErrorKind::kRateLimited, 429},     {ErrorKind::kInternal, 500},
      {ErrorKind::kUpstreamFailed, 502},  {ErrorKind::kUnavailable, 503},
  };
  for (const auto& [kind, status] : table) EXPECT_EQ(http_status(kind), status);
}

TEST(HttpStatus, ErrorResponseUsesTheKindsStatusAndKeepsCodeAndMessage) {
  auto r =
      error_response(ds::Error{ds::ErrorKind::kPaymentRequired, "insufficient_credits", "buy"});
  EXPECT_EQ(r.status, 402);
  auto j = json::parse(r.body);
  EXPECT_EQ(j["error"]["code"], "insufficient_credits");
  EXPECT_EQ(j["error"]["message"], "buy");
}

TEST(HttpRequest, BearerTokenIsTheCredentialAfterTheScheme) {
  EXPECT_EQ(with_headers({{"authorization", "Bearer dst_abc"}}).bearer_token(), "dst_abc");
  EXPECT_FALSE(with_headers({{"authorization", "Basic abc"}}).bearer_token());
  EXPECT_FALSE(with_headers({}).bearer_token());
}

namespace {

Request with_query(std::string query) {
  Request r;
  r.query = std::move(query);
  return r;
}

}  // namespace

TEST(ParsePage, DefaultsWhenAbsent) {
  auto p = parse_page(with_query(""), 50, 200);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->before, 0);
  EXPECT_EQ(p->limit, 50);
}

TEST(ParsePage, ReadsBeforeAndLimit) {
  auto p = parse_page(with_query("before=42&limit=3"), 50, 100);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->before, 42);
  EXPECT_EQ(p->limit, 3);
  EXPECT_EQ(parse_page(with_query("limit=100"), 50, 100)->limit, 100);
}

TEST(ParsePage, RefusesWhatIsNotAPage) {
  for (const char* q : {"limit=0", "limit=101", "limit=abc", "limit=", "before=-1", "before=x",
                        "before=12abc", "before=1234567890123456789"}) {
    auto p = parse_page(with_query(q), 50, 100);
    ASSERT_FALSE(p) << q;
    EXPECT_EQ(p.error().kind, ds::ErrorKind::kInvalid) << q;
    EXPECT_EQ(p.error().code, "invalid_query") << q;
  }
}
