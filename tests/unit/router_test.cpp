#include "api/router.hpp"

#include <gtest/gtest.h>

using namespace ds::api;

namespace {

Handler reply(int status) {
  return [status](Request&) {
    Response r;
    r.status = status;
    return r;
  };
}

Request req(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  return r;
}

}  // namespace

TEST(SplitPath, DropsEmptySegments) {
  EXPECT_EQ(split_path("/a/b/c"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(split_path("//a///b/"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(split_path("/").empty());
  EXPECT_TRUE(split_path("").empty());
}

TEST(MatchSegments, CapturesNamedSegments) {
  std::unordered_map<std::string, std::string> params;
  EXPECT_TRUE(match_segments(split_path("/api/streams/:username/comments"),
                             split_path("/api/streams/alice/comments"), params));
  EXPECT_EQ(params.at("username"), "alice");
}

TEST(MatchSegments, RequiresLiteralsAndLengthToMatch) {
  std::unordered_map<std::string, std::string> params;
  EXPECT_FALSE(match_segments(split_path("/a/:x"), split_path("/b/1"), params));
  EXPECT_FALSE(match_segments(split_path("/a/:x"), split_path("/a"), params));
  EXPECT_FALSE(match_segments(split_path("/a/:x"), split_path("/a/1/2"), params));
  EXPECT_TRUE(params.empty());
}

TEST(Router, FindsTheHandlerForMethodAndPath) {
  Router router;
  router.add("GET", "/api/me", reply(200));
  router.add("PATCH", "/api/me", reply(201));
  auto r = req("PATCH", "/api/me");
  auto m = router.match(r);
  ASSERT_EQ(m.outcome, Router::Outcome::kFound);
  EXPECT_EQ((*m.handler)(r).status, 201);
}

TEST(Router, FillsPathParameters) {
  Router router;
  router.add("DELETE", "/api/me/tokens/:id", reply(200));
  auto r = req("DELETE", "/api/me/tokens/42");
  ASSERT_EQ(router.match(r).outcome, Router::Outcome::kFound);
  EXPECT_EQ(r.params.at("id"), "42");
}

TEST(Router, UnknownPathIsNotFound) {
  Router router;
  router.add("GET", "/api/me", reply(200));
  auto r = req("GET", "/api/you");
  EXPECT_EQ(router.match(r).outcome, Router::Outcome::kNotFound);
}

TEST(Router, WrongMethodIsMethodNotAllowedListingTheAllowedOnes) {
  Router router;
  router.add("GET", "/api/me", reply(200));
  router.add("PATCH", "/api/me", reply(200));
  auto r = req("PUT", "/api/me");
  auto m = router.match(r);
  EXPECT_EQ(m.outcome, Router::Outcome::kMethodNotAllowed);
  EXPECT_EQ(m.allowed, "GET, PATCH");
}

TEST(Router, HeadIsAnsweredByTheGetRoute) {
  Router router;
  router.add("GET", "/healthz", reply(200));
  auto r = req("HEAD", "/healthz");
  EXPECT_EQ(router.match(r).outcome, Router::Outcome::kFound);
}

TEST(Router, LiteralAndParameterRoutesCoexist) {
  Router router;
  router.add("GET", "/api/streams/sessions", reply(1));
  router.add("GET", "/api/streams/:username", reply(2));
  auto a = req("GET", "/api/streams/sessions");
  auto b = req("GET", "/api/streams/alice");
  EXPECT_EQ((*router.match(a).handler)(a).status, 1);
  auto mb = router.match(b);
  EXPECT_EQ((*mb.handler)(b).status, 2);
  EXPECT_EQ(b.params.at("username"), "alice");
}

TEST(Router, PathsAreCaseSensitive) {
  Router router;
  router.add("GET", "/api/me", reply(200));
  auto r = req("GET", "/API/ME");
  EXPECT_EQ(router.match(r).outcome, Router::Outcome::kNotFound);
}
