;; SHA-512 (FIPS 180-4) as WebAssembly, for sys/sha512.ts, and SHA512-CRYPT's rounds on it:
;; node:crypto costs a cold `user add` ~6 ms to load and ~3 us a call, where SHA512-CRYPT makes
;; 5 000 digests of ~120 bytes; here the rounds are one call on native 64-bit words. Built into
;; sys/sha512-wasm.ts by `npm run wasm` (wat2wasm, Debian package wabt).
;;
;; One digest at a time: init, update (any number), final. Memory: K at 0, the initial state at
;; 640, the state at 704, the schedule W at 768, the partial block (two blocks' room for the
;; padding) at 1408, the digest at 1664 (DIGEST); callers put input from 2048 (INPUT) on.
(module
  (memory (export "memory") 1)
  (data (i32.const 0) "\22\ae\28\d7\98\2f\8a\42\cd\65\ef\23\91\44\37\71\2f\3b\4d\ec\cf\fb\c0\b5\bc\db\89\81\a5\db\b5\e9\38\b5\48\f3\5b\c2\56\39\19\d0\05\b6\f1\11\f1\59\9b\4f\19\af\a4\82\3f\92\18\81\6d\da\d5\5e\1c\ab\42\02\03\a3\98\aa\07\d8\be\6f\70\45\01\5b\83\12\8c\b2\e4\4e\be\85\31\24\e2\b4\ff\d5\c3\7d\0c\55\6f\89\7b\f2\74\5d\be\72\b1\96\16\3b\fe\b1\de\80\35\12\c7\25\a7\06\dc\9b\94\26\69\cf\74\f1\9b\c1\d2\4a\f1\9e\c1\69\9b\e4\e3\25\4f\38\86\47\be\ef\b5\d5\8c\8b\c6\9d\c1\0f\65\9c\ac\77\cc\a1\0c\24\75\02\2b\59\6f\2c\e9\2d\83\e4\a6\6e\aa\84\74\4a\d4\fb\41\bd\dc\a9\b0\5c\b5\53\11\83\da\88\f9\76\ab\df\66\ee\52\51\3e\98\10\32\b4\2d\6d\c6\31\a8\3f\21\fb\98\c8\27\03\b0\e4\0e\ef\be\c7\7f\59\bf\c2\8f\a8\3d\f3\0b\e0\c6\25\a7\0a\93\47\91\a7\d5\6f\82\03\e0\51\63\ca\06\70\6e\0e\0a\67\29\29\14\fc\2f\d2\46\85\0a\b7\27\26\c9\26\5c\38\21\1b\2e\ed\2a\c4\5a\fc\6d\2c\4d\df\b3\95\9d\13\0d\38\53\de\63\af\8b\54\73\0a\65\a8\b2\77\3c\bb\0a\6a\76\e6\ae\ed\47\2e\c9\c2\81\3b\35\82\14\85\2c\72\92\64\03\f1\4c\a1\e8\bf\a2\01\30\42\bc\4b\66\1a\a8\91\97\f8\d0\70\8b\4b\c2\30\be\54\06\a3\51\6c\c7\18\52\ef\d6\19\e8\92\d1\10\a9\65\55\24\06\99\d6\2a\20\71\57\85\35\0e\f4\b8\d1\bb\32\70\a0\6a\10\c8\d0\d2\b8\16\c1\a4\19\53\ab\41\51\08\6c\37\1e\99\eb\8e\df\4c\77\48\27\a8\48\9b\e1\b5\bc\b0\34\63\5a\c9\c5\b3\0c\1c\39\cb\8a\41\e3\4a\aa\d8\4e\73\e3\63\77\4f\ca\9c\5b\a3\b8\b2\d6\f3\6f\2e\68\fc\b2\ef\5d\ee\82\8f\74\60\2f\17\43\6f\63\a5\78\72\ab\f0\a1\14\78\c8\84\ec\39\64\1a\08\02\c7\8c\28\1e\63\23\fa\ff\be\90\e9\bd\82\de\eb\6c\50\a4\15\79\c6\b2\f7\a3\f9\be\2b\53\72\e3\f2\78\71\c6\9c\61\26\ea\ce\3e\27\ca\07\c2\c0\21\c7\b8\86\d1\1e\eb\e0\cd\d6\7d\da\ea\78\d1\6e\ee\7f\4f\7d\f5\ba\6f\17\72\aa\67\f0\06\a6\98\c8\a2\c5\7d\63\0a\ae\0d\f9\be\04\98\3f\11\1b\47\1c\13\35\0b\71\1b\84\7d\04\23\f5\77\db\28\93\24\c7\40\7b\ab\ca\32\bc\be\c9\15\0a\be\9e\3c\4c\0d\10\9c\c4\67\1d\43\b6\42\3e\cb\be\d4\c5\4c\2a\7e\65\fc\9c\29\7f\59\ec\fa\d6\3a\ab\6f\cb\5f\17\58\47\4a\8c\19\44\6c")
  (data (i32.const 640) "\08\c9\bc\f3\67\e6\09\6a\3b\a7\ca\84\85\ae\67\bb\2b\f8\94\fe\72\f3\6e\3c\f1\36\1d\5f\3a\f5\4f\a5\d1\82\e6\ad\7f\52\0e\51\1f\6c\3e\2b\8c\68\05\9b\6b\bd\41\fb\ab\d9\83\1f\79\21\7e\13\19\cd\e0\5b")
  ;; Bytes in the partial block, and of the message so far.
  (global $buffered (mut i32) (i32.const 0))
  (global $total (mut i64) (i64.const 0))

  ;; Wasm loads little-endian; SHA-512 reads big-endian words.
  (func $bswap (param $x i64) (result i64)
    (local.set $x (i64.or
      (i64.shl (i64.and (local.get $x) (i64.const 0x00ff00ff00ff00ff)) (i64.const 8))
      (i64.and (i64.shr_u (local.get $x) (i64.const 8)) (i64.const 0x00ff00ff00ff00ff))))
    (local.set $x (i64.or
      (i64.shl (i64.and (local.get $x) (i64.const 0x0000ffff0000ffff)) (i64.const 16))
      (i64.and (i64.shr_u (local.get $x) (i64.const 16)) (i64.const 0x0000ffff0000ffff))))
    (i64.rotl (local.get $x) (i64.const 32)))

  ;; One 128-byte block at p into the state.
  (func $compress (param $p i32)
    (local $t i32) (local $w i32) (local $x i64) (local $y i64)
    (local $a i64) (local $b i64) (local $c i64) (local $d i64)
    (local $e i64) (local $f i64) (local $g i64) (local $h i64) (local $t1 i64)
    ;; W[0..15]: the block's big-endian words ($bswap written out: V8 does not inline wasm calls,
    ;; and 16 calls a block were a fifth of the hashing).
    (local.set $t (i32.const 0))
    (loop $load
      (local.set $x (i64.load (i32.add (local.get $p) (local.get $t))))
      (local.set $x (i64.or
        (i64.shl (i64.and (local.get $x) (i64.const 0x00ff00ff00ff00ff)) (i64.const 8))
        (i64.and (i64.shr_u (local.get $x) (i64.const 8)) (i64.const 0x00ff00ff00ff00ff))))
      (local.set $x (i64.or
        (i64.shl (i64.and (local.get $x) (i64.const 0x0000ffff0000ffff)) (i64.const 16))
        (i64.and (i64.shr_u (local.get $x) (i64.const 16)) (i64.const 0x0000ffff0000ffff))))
      (i64.store (i32.add (i32.const 768) (local.get $t)) (i64.rotl (local.get $x) (i64.const 32)))
      (br_if $load (i32.lt_u (local.tee $t (i32.add (local.get $t) (i32.const 8))) (i32.const 128))))
    ;; W[16..79] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16]
    (loop $expand
      (local.set $w (i32.add (i32.const 768) (local.get $t)))
      (local.set $x (i64.load (i32.sub (local.get $w) (i32.const 16))))
      (local.set $y (i64.load (i32.sub (local.get $w) (i32.const 120))))
      (i64.store (local.get $w)
        (i64.add
          (i64.add
            (i64.xor (i64.xor (i64.rotr (local.get $x) (i64.const 19)) (i64.rotr (local.get $x) (i64.const 61))) (i64.shr_u (local.get $x) (i64.const 6)))
            (i64.load (i32.sub (local.get $w) (i32.const 56))))
          (i64.add
            (i64.xor (i64.xor (i64.rotr (local.get $y) (i64.const 1)) (i64.rotr (local.get $y) (i64.const 8))) (i64.shr_u (local.get $y) (i64.const 7)))
            (i64.load (i32.sub (local.get $w) (i32.const 128))))))
      (br_if $expand (i32.lt_u (local.tee $t (i32.add (local.get $t) (i32.const 8))) (i32.const 640))))
    (local.set $a (i64.load (i32.const 704)))
    (local.set $b (i64.load (i32.const 712)))
    (local.set $c (i64.load (i32.const 720)))
    (local.set $d (i64.load (i32.const 728)))
    (local.set $e (i64.load (i32.const 736)))
    (local.set $f (i64.load (i32.const 744)))
    (local.set $g (i64.load (i32.const 752)))
    (local.set $h (i64.load (i32.const 760)))
    (local.set $t (i32.const 0))
    (loop $round
      ;; t1 = h + S1(e) + Ch(e, f, g) + K[t] + W[t]
      (local.set $t1
        (i64.add
          (i64.add (local.get $h)
            (i64.xor (i64.xor (i64.rotr (local.get $e) (i64.const 14)) (i64.rotr (local.get $e) (i64.const 18))) (i64.rotr (local.get $e) (i64.const 41))))
          (i64.add
            (i64.xor (local.get $g) (i64.and (local.get $e) (i64.xor (local.get $f) (local.get $g))))
            (i64.add (i64.load (local.get $t)) (i64.load (i32.add (i32.const 768) (local.get $t)))))))
      (local.set $h (local.get $g))
      (local.set $g (local.get $f))
      (local.set $f (local.get $e))
      (local.set $e (i64.add (local.get $d) (local.get $t1)))
      (local.set $d (local.get $c))
      ;; a = t1 + S0(a) + Maj(a, b, c)
      (local.set $x
        (i64.add (local.get $t1)
          (i64.add
            (i64.xor (i64.xor (i64.rotr (local.get $a) (i64.const 28)) (i64.rotr (local.get $a) (i64.const 34))) (i64.rotr (local.get $a) (i64.const 39)))
            (i64.or (i64.and (local.get $a) (local.get $b)) (i64.and (local.get $c) (i64.or (local.get $a) (local.get $b)))))))
      (local.set $c (local.get $b))
      (local.set $b (local.get $a))
      (local.set $a (local.get $x))
      (br_if $round (i32.lt_u (local.tee $t (i32.add (local.get $t) (i32.const 8))) (i32.const 640))))
    (i64.store (i32.const 704) (i64.add (i64.load (i32.const 704)) (local.get $a)))
    (i64.store (i32.const 712) (i64.add (i64.load (i32.const 712)) (local.get $b)))
    (i64.store (i32.const 720) (i64.add (i64.load (i32.const 720)) (local.get $c)))
    (i64.store (i32.const 728) (i64.add (i64.load (i32.const 728)) (local.get $d)))
    (i64.store (i32.const 736) (i64.add (i64.load (i32.const 736)) (local.get $e)))
    (i64.store (i32.const 744) (i64.add (i64.load (i32.const 744)) (local.get $f)))
    (i64.store (i32.const 752) (i64.add (i64.load (i32.const 752)) (local.get $g)))
    (i64.store (i32.const 760) (i64.add (i64.load (i32.const 760)) (local.get $h))))

  ;; Start a digest.
  (func $init (export "init")
    (memory.copy (i32.const 704) (i32.const 640) (i32.const 64))
    (global.set $buffered (i32.const 0))
    (global.set $total (i64.const 0)))

  ;; Add memory[ptr, ptr + len) to the message.
  (func $update (export "update") (param $ptr i32) (param $len i32)
    (local $take i32)
    (global.set $total (i64.add (global.get $total) (i64.extend_i32_u (local.get $len))))
    (if (global.get $buffered)
      (then
        (local.set $take (i32.sub (i32.const 128) (global.get $buffered)))
        (if (i32.lt_u (local.get $len) (local.get $take)) (then (local.set $take (local.get $len))))
        (memory.copy (i32.add (i32.const 1408) (global.get $buffered)) (local.get $ptr) (local.get $take))
        (global.set $buffered (i32.add (global.get $buffered) (local.get $take)))
        (local.set $ptr (i32.add (local.get $ptr) (local.get $take)))
        (local.set $len (i32.sub (local.get $len) (local.get $take)))
        (if (i32.eq (global.get $buffered) (i32.const 128))
          (then
            (call $compress (i32.const 1408))
            (global.set $buffered (i32.const 0))))))
    (block $done
      (loop $blocks
        (br_if $done (i32.lt_u (local.get $len) (i32.const 128)))
        (call $compress (local.get $ptr))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 128)))
        (local.set $len (i32.sub (local.get $len) (i32.const 128)))
        (br $blocks)))
    (if (local.get $len)
      (then
        (memory.copy (i32.const 1408) (local.get $ptr) (local.get $len))
        (global.set $buffered (local.get $len)))))

  ;; End the message: 0x80, zeros and its length in bits (big-endian) close one block, or two when
  ;; the partial block leaves no room for those 17 bytes; the digest goes to DIGEST.
  (func $final (export "final")
    (local $i i32)
    (local $bits i64)
    (local.set $bits (call $bswap (i64.shl (global.get $total) (i64.const 3))))
    (memory.fill (i32.add (i32.const 1408) (global.get $buffered)) (i32.const 0) (i32.sub (i32.const 256) (global.get $buffered)))
    (i32.store8 (i32.add (i32.const 1408) (global.get $buffered)) (i32.const 0x80))
    (if (i32.lt_u (global.get $buffered) (i32.const 112))
      (then
        (i64.store (i32.const 1528) (local.get $bits))
        (call $compress (i32.const 1408)))
      (else
        (i64.store (i32.const 1656) (local.get $bits))
        (call $compress (i32.const 1408))
        (call $compress (i32.const 1536))))
    (loop $write
      (i64.store (i32.add (i32.const 1664) (local.get $i)) (call $bswap (i64.load (i32.add (i32.const 704) (local.get $i)))))
      (br_if $write (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 8))) (i32.const 64)))))

  ;; SHA512-CRYPT's step 21 (https://www.akkadia.org/drepper/SHA-crypt.txt): n rounds over C at
  ;; DIGEST, the P sequence at p and the S sequence at s; C ends at DIGEST. A round digests
  ;; (P or C), S unless i % 3 == 0, P unless i % 7 == 0, then (C or P): update reads C before
  ;; final replaces it.
  (func (export "crypt_rounds") (param $n i32) (param $p i32) (param $pl i32) (param $s i32) (param $sl i32)
    (local $i i32)
    (block $done
      (loop $round
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (call $init)
        (if (i32.and (local.get $i) (i32.const 1))
          (then (call $update (local.get $p) (local.get $pl)))
          (else (call $update (i32.const 1664) (i32.const 64))))
        (if (i32.rem_u (local.get $i) (i32.const 3)) (then (call $update (local.get $s) (local.get $sl))))
        (if (i32.rem_u (local.get $i) (i32.const 7)) (then (call $update (local.get $p) (local.get $pl))))
        (if (i32.and (local.get $i) (i32.const 1))
          (then (call $update (i32.const 1664) (i32.const 64)))
          (else (call $update (local.get $p) (local.get $pl))))
        (call $final)
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $round)))))
