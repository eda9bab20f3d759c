#include "util/sha256.hpp"

#include <string>
#include <utility>

#include <catch2/catch.hpp>

using softpack::Sha256;
using softpack::sha256_hex;

TEST_CASE("sha256: FIPS 180-4 test vectors", "[sha256]") {
  SECTION("empty message") {
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  }
  SECTION("one block") {
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  }
  SECTION("two blocks, 448 bits") {
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  }
  SECTION("896 bits") {
    CHECK(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                     "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu") ==
          "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  }
  SECTION("one million 'a'") {
    CHECK(sha256_hex(std::string(1000000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  }
}

TEST_CASE("sha256: lengths around the padding boundaries match sha256sum", "[sha256]") {
  // `head -c N /dev/zero | tr '\0' x | sha256sum`
  const std::pair<std::size_t, const char*> cases[] = {
      {55, "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072"},
      {56, "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e"},
      {63, "75220b47218278e656f2013bb8f0c455a25eaf01e86c64924e9d48d89776d6f2"},
      {64, "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c"},
      {65, "9537c5fdf120482f7d58d25e9ed583f52c02b4e304ea814db1633ad565aed7e9"},
      {119, "000b48d4edf0fa7bee3c6236ecd2785baa5db4eeb8bb54341b029e0d9fa5fb0c"},
      {120, "13f05a0b594787f5ecd315edc96141bd3243203d1b7d4f0836f37308b276ba98"},
      {127, "70156a14adbabf98cff3a71c7084b417abf057a8efd27329ca36b7202c87d81f"},
      {128, "24da1b81d0b16df6428eee73c69fcb2a93c76bc6df706f0c6670fe6bfe800464"},
  };
  for (const auto& [length, expected] : cases) {
    INFO("length " << length);
    CHECK(sha256_hex(std::string(length, 'x')) == expected);
  }
}

TEST_CASE("sha256: streaming in any chunking equals one call", "[sha256]") {
  std::string data;
  for (int i = 0; i < 1000; ++i) {
    data += static_cast<char>(i * 7 + 3); // every byte value, including NUL and high bytes
  }
  const std::string whole = sha256_hex(data);

  for (std::size_t chunk : {1, 3, 55, 63, 64, 65, 127, 500}) {
    INFO("chunk size " << chunk);
    Sha256 h;
    for (std::size_t pos = 0; pos < data.size(); pos += chunk) {
      h.update(std::string_view(data).substr(pos, chunk));
    }
    CHECK(h.hex_digest() == whole);
  }

  SECTION("the digest does not end the stream") {
    Sha256 h;
    h.update("ab");
    CHECK(h.hex_digest() == sha256_hex("ab"));
    CHECK(h.hex_digest() == sha256_hex("ab"));
    h.update("c");
    CHECK(h.hex_digest() == sha256_hex("abc"));
  }
  SECTION("binary digest matches the hex one") {
    Sha256 h;
    h.update("abc");
    const auto bytes = h.digest();
    CHECK(bytes[0] == 0xba);
    CHECK(bytes[31] == 0xad);
  }
}

TEST_CASE("sha256: a large input streamed in blocks matches the known vector", "[sha256]") {
  // FIPS 180-4's one million 'a', fed as a file would be: in blocks of 4096 and a short tail.
  Sha256 h;
  const std::string block(4096, 'a');
  std::size_t fed = 0;
  while (fed + block.size() <= 1000000) {
    h.update(block);
    fed += block.size();
  }
  h.update(std::string(1000000 - fed, 'a'));
  CHECK(h.hex_digest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

  SECTION("16 MiB of every byte value, one call and streamed") {
    std::string data(16u << 20, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) {
      data[i] = static_cast<char>((i * 131) >> 3);
    }
    Sha256 streamed;
    for (std::size_t pos = 0; pos < data.size(); pos += 1000003) {
      streamed.update(std::string_view(data).substr(pos, 1000003));
    }
    CHECK(streamed.hex_digest() == sha256_hex(data));
    CHECK(sha256_hex(data) != sha256_hex(data.substr(1)));
  }
}

TEST_CASE("sha256: a copy continues independently", "[sha256]") {
  Sha256 original;
  original.update("ab");
  Sha256 copy = original;
  copy.update("c");
  CHECK(copy.hex_digest() == sha256_hex("abc"));
  CHECK(original.hex_digest() == sha256_hex("ab"));
  original.update("x");
  CHECK(original.hex_digest() == sha256_hex("abx"));
  CHECK(copy.hex_digest() == sha256_hex("abc"));

  SECTION("assignment replaces the state") {
    Sha256 other;
    other.update("something else");
    other = copy;
    CHECK(other.hex_digest() == sha256_hex("abc"));
    other.update("d");
    CHECK(other.hex_digest() == sha256_hex("abcd"));
    CHECK(copy.hex_digest() == sha256_hex("abc"));
  }
  SECTION("a moved hasher keeps the state") {
    Sha256 moved = std::move(copy);
    CHECK(moved.hex_digest() == sha256_hex("abc"));
  }
  SECTION("self-assignment keeps the state") {
    Sha256& alias = original;
    original = alias;
    CHECK(original.hex_digest() == sha256_hex("abx"));
  }
}
