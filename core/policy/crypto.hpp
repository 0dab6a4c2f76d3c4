// Crypto primitives for certificates and the audit log: SHA-256 and Ed25519, both from libsodium.
//
// No cryptography is implemented here: every function is a thin, typed wrapper over libsodium
// (natively the system's libsodium-dev; in WebAssembly the same upstream version compiled from
// Debian's source package, see core/CMakeLists.txt), so the two targets sign and hash with the
// same code.
//
//   SHA-256   FIPS 180-4, crypto_hash_sha256.
//   Ed25519   RFC 8032 §5.1 (pure Ed25519, no prehash, no context), crypto_sign_ed25519_*.
//             Signing is deterministic: the same key and message give the same 64 bytes.
//             Keys: a 32-byte seed (RFC 8032's "secret key") from which libsodium derives its
//             64-byte secret (seed || public key); the public key is 32 bytes.
//
// Hex text is lowercase on output and case-insensitive on input.
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace stacklab::policy {

using Bytes = std::vector<std::uint8_t>;
using Sha256 = std::array<std::uint8_t, 32>;
using Ed25519Seed = std::array<std::uint8_t, 32>;
using Ed25519PublicKey = std::array<std::uint8_t, 32>;
using Ed25519Signature = std::array<std::uint8_t, 64>;

// Lowercase hex of any bytes.
std::string to_hex(const std::uint8_t* data, std::size_t size);
template <std::size_t N>
std::string to_hex(const std::array<std::uint8_t, N>& a) { return to_hex(a.data(), N); }
inline std::string to_hex(const Bytes& b) { return to_hex(b.data(), b.size()); }

// Parses hex (even length, [0-9a-fA-F]); throws std::invalid_argument naming `what` otherwise.
Bytes from_hex(std::string_view hex, const std::string& what = "hex");
// Exactly N bytes of hex; throws std::invalid_argument naming `what` when the length differs.
template <std::size_t N>
std::array<std::uint8_t, N> from_hex_fixed(std::string_view hex, const std::string& what) {
    const Bytes b = from_hex(hex, what);
    if (b.size() != N)
        throw std::invalid_argument(what + ": expected " + std::to_string(N) + " bytes (" + std::to_string(2 * N) +
                                    " hex digits), got " + std::to_string(b.size()));
    std::array<std::uint8_t, N> a{};
    for (std::size_t i = 0; i < N; ++i) a[i] = b[i];
    return a;
}

Sha256 sha256(const std::uint8_t* data, std::size_t size);
Sha256 sha256(std::string_view bytes);
inline Sha256 sha256(const Bytes& b) { return sha256(b.data(), b.size()); }
// Hex of the SHA-256 of `bytes`: the form evidence and manifest hashes take in certificates.
std::string sha256_hex(std::string_view bytes);

struct Ed25519KeyPair {
    Ed25519Seed seed{};             // the secret: keep it secret
    Ed25519PublicKey public_key{};
};

// The key pair of a given seed (RFC 8032 test vectors give the seed as "SECRET KEY").
Ed25519KeyPair ed25519_from_seed(const Ed25519Seed& seed);
// A fresh key pair from the platform's CSPRNG (the OS natively, the JS host's crypto in wasm).
Ed25519KeyPair ed25519_generate();

Ed25519Signature ed25519_sign(const Ed25519KeyPair& key, std::string_view message);
// True only for a valid signature of exactly `message` under `public_key`.
bool ed25519_verify(const Ed25519PublicKey& public_key, std::string_view message, const Ed25519Signature& signature);

// A short, stable name for a public key: "ed25519:" + the first 16 hex digits of its SHA-256.
std::string key_id(const Ed25519PublicKey& public_key);

}  // namespace stacklab::policy
