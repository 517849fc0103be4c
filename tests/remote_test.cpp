// Slides by URL, the parts that need no server: the SigV4 signer against AWS's published
// examples, what an s3:// URL is requested as, and what messages show of a URL.
#include <gtest/gtest.h>

#include <cstdlib>

#include "pydmed/error.hpp"
#include "pydmed/slide/remote.hpp"
#include "remote/sigv4.hpp"
#include "remote/url.hpp"

namespace pydmed::remote {
namespace {

std::string signature_of(const std::vector<std::string>& headers) {
  for (const auto& h : headers) {
    const auto at = h.find("Signature=");
    if (h.rfind("Authorization: ", 0) == 0 && at != std::string::npos) return h.substr(at + 10);
  }
  return "";
}

// The "GET Bucket" examples of AWS's S3 SigV4 documentation (header-based authentication):
// 24 May 2013, examplebucket, us-east-1, the documentation's key pair.
TEST(SigV4, MatchesAwsPublishedExamples) {
  const Credentials c{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "", "us-east-1"};
  const std::time_t when = 1369353600;  // 20130524T000000Z
  Target t;
  t.host = "examplebucket.s3.amazonaws.com", t.path = "/", t.s3 = true;
  t.query = "prefix=J&max-keys=2";  // unsorted: the signer sorts
  const auto list = sign(c, "GET", t, when);
  EXPECT_EQ(signature_of(list), "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
  t.query = "lifecycle";  // a parameter without a value
  EXPECT_EQ(signature_of(sign(c, "GET", t, when)), "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
  EXPECT_NE(std::find(list.begin(), list.end(), "x-amz-date: 20130524T000000Z"), list.end());
  for (const auto& h : list) EXPECT_EQ(h.find("wJalrXUtnFEMI"), std::string::npos) << h;  // the secret never sent
  const Credentials with_token{c.access_key, c.secret_key, "TOKEN", c.region};
  const auto temp = sign(with_token, "GET", t, when);
  EXPECT_NE(std::find(temp.begin(), temp.end(), "x-amz-security-token: TOKEN"), temp.end());
  EXPECT_NE(signature_of(temp).size(), 0u);
  EXPECT_NE(signature_of(temp), signature_of(sign(c, "GET", t, when)));  // the token is signed too
}

class S3Urls : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v : {"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"}) {
      if (const char* old = std::getenv(v)) saved_.emplace_back(v, old);
      ::unsetenv(v);
    }
  }
  void TearDown() override {
    for (const char* v : {"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION"}) ::unsetenv(v);
    for (const auto& [k, v] : saved_) ::setenv(k.c_str(), v.c_str(), 1);
  }
  std::vector<std::pair<std::string, std::string>> saved_;
};

TEST_F(S3Urls, MapOntoAwsOrAnEndpointPathStyle) {
  Target t = resolve("s3://cohort/TCGA slides/a+b.svs");
  EXPECT_TRUE(t.s3);
  EXPECT_EQ(t.url, "https://cohort.s3.us-east-1.amazonaws.com/TCGA%20slides/a%2Bb.svs");
  EXPECT_EQ(t.host, "cohort.s3.us-east-1.amazonaws.com");
  EXPECT_EQ(t.path, "/TCGA%20slides/a%2Bb.svs");
  ::setenv("AWS_REGION", "eu-west-3", 1);
  EXPECT_EQ(resolve("s3://my.dotted.bucket/k").url, "https://s3.eu-west-3.amazonaws.com/my.dotted.bucket/k");
  ::setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/", 1);
  t = resolve("s3://b/x/y.tiff");
  EXPECT_EQ(t.url, "http://127.0.0.1:9000/b/x/y.tiff");
  EXPECT_EQ(t.host, "127.0.0.1:9000");
  const Target page = list_target("s3://b/x/", "token/1");
  EXPECT_EQ(page.path, "/b/");
  EXPECT_EQ(page.query, "continuation-token=token%2F1&list-type=2&prefix=x%2F");
  EXPECT_THROW(resolve("s3:///key"), SlideError);
  EXPECT_THROW(resolve("s3://b/k?versionId=1"), SlideError);
}

TEST(Urls, MessagesNeverShowQueriesOrPasswords) {
  const std::string presigned = "https://user:pw@host/b/slide%201.svs?X-Amz-Signature=SECRET#frag";
  EXPECT_EQ(redact_url(presigned), "https://host/b/slide%201.svs");
  EXPECT_EQ(url_file_name(presigned), "slide 1.svs");
  EXPECT_EQ(url_file_name("s3://b/series/"), "");
  EXPECT_EQ(redact_url("/local/path?odd"), "/local/path?odd");  // paths are not URLs
  const SlideError e(presigned, "the server said HTTP 403");
  EXPECT_EQ(std::string(e.what()), "https://host/b/slide%201.svs: the server said HTTP 403");
  const Target t = resolve(presigned);
  EXPECT_EQ(t.name, "https://host/b/slide%201.svs");
  EXPECT_EQ(t.query, "X-Amz-Signature=SECRET");  // sent as given
  EXPECT_TRUE(is_url("s3://b/k") && is_url("http://h/") && !is_url("s3:/b") && !is_url("file:///x"));
}

TEST(Urls, ByteSizes) {
  EXPECT_EQ(parse_byte_size("--cache-size", "20G"), std::uint64_t(20) << 30);
  EXPECT_EQ(parse_byte_size("--cache-size", "512M"), std::uint64_t(512) << 20);
  EXPECT_EQ(parse_byte_size("--cache-size", "64k"), std::uint64_t(64) << 10);
  EXPECT_EQ(parse_byte_size("--cache-size", "1000"), 1000u);
  for (const char* bad : {"", "-1", "5Q", "G", "1.5G", "99999999999999999999T"})
    EXPECT_THROW(parse_byte_size("--cache-size", bad), OptionsError) << bad;
}

}  // namespace
}  // namespace pydmed::remote
