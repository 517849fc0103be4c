#include "pydmed/sha256.hpp"

#include <openssl/evp.h>

#include <fstream>
#include <memory>
#include <vector>

#include "pydmed/error.hpp"

namespace pydmed {

namespace {
using Context = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

Context start() {
  Context ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  return ctx;
}

std::string finish(const Context& ctx) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &n);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) out += {hex[md[i] >> 4], hex[md[i] & 15]};
  return out;
}
}  // namespace

std::string sha256_hex(const void* data, std::size_t bytes) {
  const Context ctx = start();
  EVP_DigestUpdate(ctx.get(), data, bytes);
  return finish(ctx);
}

std::string file_sha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot read it");
  const Context ctx = start();
  std::vector<char> buf(std::size_t(1) << 20);
  while (in.read(buf.data(), std::streamsize(buf.size())) || in.gcount() > 0)
    EVP_DigestUpdate(ctx.get(), buf.data(), std::size_t(in.gcount()));
  if (in.bad()) throw Error(path + ": cannot read it");
  return finish(ctx);
}

}  // namespace pydmed
