#include "policy/crypto.hpp"

#include <stdexcept>

#include <sodium.h>

namespace stacklab::policy {
namespace {

// sodium_init() is idempotent and thread-safe; it picks implementations and seeds the RNG.
void ensure_sodium() {
    if (sodium_init() < 0) throw std::runtime_error("libsodium: sodium_init failed");
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::string to_hex(const std::uint8_t* data, std::size_t size) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s(2 * size, '0');
    for (std::size_t i = 0; i < size; ++i) {
        s[2 * i] = kDigits[data[i] >> 4];
        s[2 * i + 1] = kDigits[data[i] & 15];
    }
    return s;
}

Bytes from_hex(std::string_view hex, const std::string& what) {
    if (hex.size() % 2 != 0)
        throw std::invalid_argument(what + ": odd number of hex digits (" + std::to_string(hex.size()) + ")");
    Bytes out(hex.size() / 2);
    for (std::size_t i = 0; i < out.size(); ++i) {
        const int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            throw std::invalid_argument(what + ": not a hex digit at position " +
                                        std::to_string(hi < 0 ? 2 * i : 2 * i + 1));
        out[i] = std::uint8_t(hi * 16 + lo);
    }
    return out;
}

Sha256 sha256(const std::uint8_t* data, std::size_t size) {
    ensure_sodium();
    Sha256 h{};
    crypto_hash_sha256(h.data(), data, size);
    return h;
}

Sha256 sha256(std::string_view bytes) {
    return sha256(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

std::string sha256_hex(std::string_view bytes) { return to_hex(sha256(bytes)); }

Ed25519KeyPair ed25519_from_seed(const Ed25519Seed& seed) {
    ensure_sodium();
    Ed25519KeyPair k;
    k.seed = seed;
    unsigned char sk[crypto_sign_ed25519_SECRETKEYBYTES];
    crypto_sign_ed25519_seed_keypair(k.public_key.data(), sk, seed.data());
    sodium_memzero(sk, sizeof sk);
    return k;
}

Ed25519KeyPair ed25519_generate() {
    ensure_sodium();
    Ed25519Seed seed{};
    randombytes_buf(seed.data(), seed.size());
    Ed25519KeyPair k = ed25519_from_seed(seed);
    sodium_memzero(seed.data(), seed.size());
    return k;
}

Ed25519Signature ed25519_sign(const Ed25519KeyPair& key, std::string_view message) {
    ensure_sodium();
    unsigned char pk[crypto_sign_ed25519_PUBLICKEYBYTES];
    unsigned char sk[crypto_sign_ed25519_SECRETKEYBYTES];
    crypto_sign_ed25519_seed_keypair(pk, sk, key.seed.data());
    Ed25519Signature sig{};
    crypto_sign_ed25519_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(message.data()),
                                 message.size(), sk);
    sodium_memzero(sk, sizeof sk);
    return sig;
}

bool ed25519_verify(const Ed25519PublicKey& public_key, std::string_view message, const Ed25519Signature& signature) {
    ensure_sodium();
    return crypto_sign_ed25519_verify_detached(signature.data(), reinterpret_cast<const unsigned char*>(message.data()),
                                               message.size(), public_key.data()) == 0;
}

std::string key_id(const Ed25519PublicKey& public_key) {
    return "ed25519:" + to_hex(sha256(public_key.data(), public_key.size())).substr(0, 16);
}

}  // namespace stacklab::policy
