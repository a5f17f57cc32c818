#pragma once
// WorkStealingDeque<T>: the Chase-Lev work-stealing deque of one worker.
//
// Algorithm: Lê, Pop, Cohen, Zappa Nardelli, "Correct and Efficient Work-Stealing
// for Weak Memory Models" (PPoPP 2013), the C11 version (their Fig. 1), with the
// changes listed under "Departures from the paper" below.
//
// Roles. One thread, the OWNER (the worker that owns the deque), calls push() and
// pop() at the bottom end. Any number of threads, THIEVES, call steal() at the top
// end; the owner may be one of them (a worker in RunOrder::Fifo takes its oldest task
// that way): steal() takes nothing that is the owner's alone, and a pop and a steal by
// the same thread never overlap. size_approx()/empty_approx() may be called by anyone.
//
// Indices. `top_` and `bottom_` are ever-growing signed 64-bit counters; the items
// live at logical indices [top, bottom), slot `i` of the buffer is `i & mask`.
// Signed, so that `bottom - 1` on an empty deque with bottom == 0 is -1 and the
// test `top <= bottom` stays right (the paper's size_t version wraps there).
//   * `bottom_` is written only by the owner (push: +1; pop: -1, then maybe +1).
//   * `top_` only ever grows, and only through a CAS: by a thief in steal(), and
//     by the owner in pop() when it takes the last item. A successful CAS from t
//     to t+1 is what makes an item at index t "taken"; everybody else who read t
//     loses the CAS. Hence each item is taken exactly once.
//
// Fences and orderings, in short (each one is justified again at its use):
//   * push writes the slot, then stores `bottom_` with release; a thief loads
//     `bottom_` with acquire before reading the slot, so it sees the item (and
//     everything the owner wrote before pushing it: the task header).
//   * pop stores the decremented `bottom_`, then a seq_cst fence, then loads
//     `top_`; steal loads `top_`, then a seq_cst fence, then loads `bottom_`.
//     The two fences forbid the store-buffering outcome in which the owner does
//     not see the thief's `top` and the thief does not see the owner's `bottom`
//     at once, so both would take the same (non-last) item. When exactly one
//     item is left (top == new bottom) the owner and the thieves decide by the
//     CAS on `top_`, never by the fences alone.
//   * push loads `top_` with acquire, pairing with the release half of the
//     seq_cst CAS on `top_` in steal/pop: a thief's read of a slot happens before
//     the CAS that claims it, so the owner, once it sees the new top, may reuse
//     (overwrite) that slot without the thief ever reading the new value.
//
// Growth. The buffer is a power-of-two ring. When push finds it full
// (bottom - top == capacity) the owner allocates one twice as large, copies the
// live range [top, bottom) to the same logical indices, and publishes it with a
// release store of `buffer_`. A thief that loaded the old buffer pointer just
// before may still read a slot of the old buffer, so the old buffer is NOT freed:
// it is retired into `buffers_`, a list only the owner touches, and freed in the
// destructor (when no thief can be running). The owner never writes an old
// buffer again, and items in it keep their logical index, so a thief reading
// slot t of an old buffer reads the same item that the new buffer holds at t;
// whether it may keep it is again decided by the CAS on `top_`. Capacities
// double, so the retired buffers together are smaller than the current one.
// The buffer never shrinks.
//
// Slots are std::atomic<T> accessed relaxed: the owner may overwrite a slot
// that a thief (who will then lose its CAS) is reading at the same moment. That
// is a benign race in the paper's model but a data race in C++'s, hence atomic.
//
// Departures from the paper:
//   * The paper's push does `fence(release); store(bottom, relaxed)`, and its pop
//     stores `bottom` relaxed. Here every store of `bottom_` is a release store
//     and push has no separate fence. The synchronisation a thief needs is "all
//     pushes below the bottom I read happened before my read"; the paper gets it
//     from push's fence, which precedes also pop's later relaxed stores, we get it
//     from the release on each store. Same cost on x86 (plain mov), and unlike a
//     fence, ThreadSanitizer understands it, so TSan sees that the task header
//     written before push() happens before the thief that stole it reads it.
//   * `buffer_` is stored with release and loaded with acquire (the paper:
//     relaxed store, consume load; compilers implement consume as acquire).
//   * steal_detailed() tells "empty" from "lost a race".
//
// T must be a pointer type; nullptr is the "nothing" answer, so it may not be
// pushed. The deque does not own what the pointers point to.
#include <atomic>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

#include "weft/core/cache_padded.hpp"

namespace weft::detail {

template <class T>
class WorkStealingDeque {
  static_assert(std::is_pointer_v<T>, "WorkStealingDeque holds pointers (nullptr means empty)");
  static_assert(std::atomic<T>::is_always_lock_free, "slots must be lock-free atomics");

 private:
  struct Buffer;  // below

 public:
  using value_type = T;

  // The answer of steal_detailed().
  struct StealResult {
    T item;      // the stolen item, or nullptr
    bool retry;  // item == nullptr because another thief or the owner won the race
                 // for the top item: the deque may still hold items, try again.
                 // false with item == nullptr: the deque looked empty.
  };

  // initial_capacity is rounded up to a power of two (at least 1).
  explicit WorkStealingDeque(std::size_t initial_capacity = 256) {
    assert(initial_capacity <= (std::size_t{1} << 40) && "initial capacity absurdly large");
    const std::size_t cap = std::bit_ceil(initial_capacity == 0 ? std::size_t{1} : initial_capacity);
    buffers_.push_back(std::make_unique<Buffer>(static_cast<std::int64_t>(cap)));
    // Relaxed: the deque is not shared yet; whoever receives it gets it through
    // some synchronising hand-over (thread start, a release store, ...).
    buffer_->store(buffers_.back().get(), std::memory_order_relaxed);
  }

  // Requires: no thread is in any member function (thieves have stopped).
  ~WorkStealingDeque() = default;  // buffers_ frees the current and retired buffers

  WorkStealingDeque(const WorkStealingDeque&) = delete;
  WorkStealingDeque& operator=(const WorkStealingDeque&) = delete;
  WorkStealingDeque(WorkStealingDeque&&) = delete;
  WorkStealingDeque& operator=(WorkStealingDeque&&) = delete;

  // Owner only. Adds `item` at the bottom. Allocates only when the buffer is full
  // (then it may throw std::bad_alloc, leaving the deque unchanged).
  void push(T item) { (void)push_reporting_empty(item); }

  // push(), telling whether the deque looked empty just before (as far as the owner
  // can see: a steal of the last item in flight may make it look non-empty).
  bool push_reporting_empty(T item) {
    return push_many_reporting_empty(1, [item](std::size_t) { return item; });
  }

  // Owner only. Adds item_at(0), ..., item_at(count - 1) at the bottom, in that order
  // (the last one ends at the bottom: pop() returns it first), and publishes them with
  // one store of bottom_, so a burst (a gather's children) pays one capacity check and
  // one publication. A thief sees all of them or none. Tells, as push_reporting_empty,
  // whether the deque looked empty before. May throw std::bad_alloc from growing,
  // leaving the deque unchanged.
  template <class ItemAt>
  bool push_many_reporting_empty(std::size_t count, ItemAt item_at) {
    return push_many</*kMayThrow=*/true>(count, item_at) == PushResult::WasEmpty;
  }

  // What try_push_many() did. NotEmpty, the common answer, is zero: one test tells it
  // from both others.
  enum class PushResult : std::uint8_t { NotEmpty = 0, WasEmpty, OutOfMemory };

  // Owner only. As push_many_reporting_empty, but never throws: if the deque must grow
  // and cannot (out of memory), nothing is pushed and the answer is OutOfMemory. The
  // failure is caught inside the cold growth, so the path that does not grow is the
  // same as push_many_reporting_empty's.
  template <class ItemAt>
  PushResult try_push_many(std::size_t count, ItemAt item_at) noexcept {
    return push_many</*kMayThrow=*/false>(count, item_at);
  }

 private:
  // kMayThrow: grow() throws std::bad_alloc; otherwise try_grow() answers OutOfMemory.
  template <bool kMayThrow, class ItemAt>
  PushResult push_many(std::size_t count, ItemAt item_at) noexcept(!kMayThrow) {
    // Relaxed: only the owner writes bottom_, so it reads its own last store.
    const std::int64_t b = bottom_->load(std::memory_order_relaxed);
    // Acquire: pairs with the seq_cst (hence release) CAS on top_ in steal()/pop():
    // a thief's read of slot t happens before we overwrite that slot below.
    const std::int64_t t = top_->load(std::memory_order_acquire);
    // Relaxed: only the owner writes buffer_.
    Buffer* buf = buffer_->load(std::memory_order_relaxed);
    assert(b - t >= 0 && "owner invariant: bottom never falls below top between calls");
    assert(b - t <= buf->capacity && "owner invariant: never more items than capacity");
    const auto n = static_cast<std::int64_t>(count);
    // Growing is out of line, with the whole push that needs it: the common path then
    // makes no call, and the code it is inlined into (a gather's start, in a coroutine)
    // keeps no value across one, which saves registers at every entry of that coroutine.
    if (b - t > buf->capacity - n) [[unlikely]] return push_many_growing<kMayThrow>(count, item_at);
    return publish_many(buf, b, t, n, item_at);
  }

  // push_many when the buffer is too small: grows it (several times if need be), then
  // pushes. Nothing pushed if a growth fails.
  template <bool kMayThrow, class ItemAt>
  [[gnu::noinline, gnu::cold]] PushResult push_many_growing(std::size_t count, ItemAt item_at) noexcept(!kMayThrow) {
    // Relaxed, acquire, relaxed: as in push_many (the owner's own fields; top_ pairs
    // with the CAS in steal()/pop()).
    const std::int64_t b = bottom_->load(std::memory_order_relaxed);
    const std::int64_t t = top_->load(std::memory_order_acquire);
    Buffer* buf = buffer_->load(std::memory_order_relaxed);
    const auto n = static_cast<std::int64_t>(count);
    while (b - t > buf->capacity - n) {
      if constexpr (kMayThrow) {
        buf = grow(buf, t, b);
      } else {
        buf = try_grow(buf, t, b);
        if (buf == nullptr) return PushResult::OutOfMemory;  // nothing pushed
      }
    }
    return publish_many(buf, b, t, n, item_at);
  }

  // Writes the n items at [b, b + n) of `buf`, which has room, and publishes them.
  template <class ItemAt>
  PushResult publish_many(Buffer* buf, std::int64_t b, std::int64_t t, std::int64_t n, ItemAt item_at) noexcept {
    // The buffer's fields in locals: the slot stores below could alias them for all
    // the compiler knows, which would reload both at every item.
    std::atomic<T>* const slots = buf->slots.get();
    const std::int64_t mask = buf->mask;
    for (std::int64_t i = 0; i < n; ++i) {
      const T item = item_at(static_cast<std::size_t>(i));
      assert(item != nullptr && "nullptr means 'empty' and cannot be pushed");
      // Relaxed: published by the release store of bottom_ below (see Buffer::store).
      slots[static_cast<std::size_t>((b + i) & mask)].store(item, std::memory_order_relaxed);
    }
    // Release: pairs with the acquire load of bottom_ in steal(): a thief that sees
    // bottom > b sees the slot writes above and everything written before the push.
    bottom_->store(b + n, std::memory_order_release);
    return b == t ? PushResult::WasEmpty : PushResult::NotEmpty;
  }

 public:

  // Owner only. Takes the bottom (most recently pushed) item; nullptr when empty
  // (including when a thief won the race for the last item).
  T pop() noexcept {
    // Relaxed: only the owner writes bottom_.
    const std::int64_t b = bottom_->load(std::memory_order_relaxed) - 1;
    // Relaxed: only the owner writes buffer_.
    Buffer* buf = buffer_->load(std::memory_order_relaxed);
    // Release: a thief that reads this value must still see the pushes of the items
    // below it (the paper gets that from push's release fence; see the header).
    // Ordered before the load of top_ below by the seq_cst fence.
    bottom_->store(b, std::memory_order_release);
    // Fence: orders our store of bottom_ (above) before our load of top_ (below),
    // against the thief's load of top_ -> seq_cst fence -> load of bottom_ in
    // steal(). Of the two fences, one comes first in their total order, so either
    // we see the thief's CAS'd top or the thief sees our reduced bottom: never
    // both take item b when b is not the last one.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // Relaxed: ordered after our store of bottom_ by the fence above. If this load
    // misses a thief's CAS, that thief's load of bottom_ saw our decrement (fence
    // argument), so it only takes an index t < b, never b; and if it read t == b
    // too, we both reach the CAS below, which has one winner.
    std::int64_t t = top_->load(std::memory_order_relaxed);
    if (t <= b) {
      T item = buf->load(b);
      if (t == b) {
        // The last item: thieves may be racing for it. seq_cst pairs with the CAS
        // in steal() (one total order on top_ decides the winner); relaxed on
        // failure since we then return nullptr and read nothing.
        if (!top_->compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                           std::memory_order_relaxed)) {
          item = nullptr;  // a thief took it
        }
        // Release: same as the store above; the deque is now empty (top == b + 1).
        bottom_->store(b + 1, std::memory_order_release);
      }
      return item;
    }
    // Empty: restore bottom (== top). Release: as the store above.
    assert(t == b + 1 && "owner invariant: top can exceed bottom by at most one");
    bottom_->store(b + 1, std::memory_order_release);
    return nullptr;
  }

  // Any thread. Takes the top (oldest) item; nullptr when empty or lost a race.
  T steal() noexcept { return steal_detailed().item; }

  // Any thread. As steal(), but says whether a nullptr was a lost race (retry).
  StealResult steal_detailed() noexcept {
    // Acquire: pairs with the seq_cst CAS that wrote this value of top_ (another
    // thief's, or the owner's on a last item): what that thread had seen (bottom_,
    // buffer_) is visible to us, so our loads below return nothing older.
    std::int64_t t = top_->load(std::memory_order_acquire);
    // Fence: orders the load of top_ (above) before the load of bottom_ (below);
    // pairs with the seq_cst fence in pop() between its store of bottom_ and its
    // load of top_ (see there).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // Acquire: pairs with the release stores of bottom_ in push()/pop(): the slots
    // below the value we read, and the buffer holding them, are visible to us.
    const std::int64_t b = bottom_->load(std::memory_order_acquire);
    if (t >= b) {
      return {nullptr, false};
    }
    // Acquire: pairs with the release store in grow(). The buffer we get holds
    // index t correctly: either it is the one current at the push of t or a later
    // copy (retired buffers are never freed while the deque lives).
    Buffer* buf = buffer_->load(std::memory_order_acquire);
    T item = buf->load(t);
    // seq_cst: pairs with the CAS in pop() and in other thieves' steal(); success
    // means the item read above was still at index t and is ours alone. Its release
    // half pairs with the acquire load of top_ in push() (slot reuse). Relaxed on
    // failure: we return nothing read after it.
    if (!top_->compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                       std::memory_order_relaxed)) {
      return {nullptr, true};
    }
    return {item, false};
  }

  // Any thread. A snapshot that may be stale by the time it returns; exact when
  // called by the owner while no thief runs.
  std::size_t size_approx() const noexcept {
    // Relaxed (both): an estimate; no memory is read on the strength of it.
    const std::int64_t b = bottom_->load(std::memory_order_relaxed);
    const std::int64_t t = top_->load(std::memory_order_relaxed);
    return b > t ? static_cast<std::size_t>(b - t) : 0;
  }

  bool empty_approx() const noexcept { return size_approx() == 0; }

  // Owner only: the current buffer's capacity (for tests and statistics).
  std::size_t capacity() const noexcept {
    // Relaxed: only the owner writes buffer_.
    return static_cast<std::size_t>(buffer_->load(std::memory_order_relaxed)->capacity);
  }

 private:
  struct Buffer {
    explicit Buffer(std::int64_t cap)
        : capacity(cap), mask(cap - 1), slots(std::make_unique<std::atomic<T>[]>(static_cast<std::size_t>(cap))) {
      assert(cap > 0 && (cap & (cap - 1)) == 0 && "buffer capacity must be a power of two");
    }
    // Relaxed (both): the slot is published by the release/acquire pair on
    // bottom_ (or buffer_), and claimed by the CAS on top_; see the header.
    void store(std::int64_t i, T item) noexcept { slots[static_cast<std::size_t>(i & mask)].store(item, std::memory_order_relaxed); }
    T load(std::int64_t i) const noexcept { return slots[static_cast<std::size_t>(i & mask)].load(std::memory_order_relaxed); }

    const std::int64_t capacity;
    const std::int64_t mask;
    const std::unique_ptr<std::atomic<T>[]> slots;
  };

  // Owner only, from try_push_many(): grow(), or null if it ran out of memory (the deque
  // unchanged). Out of line and cold, as grow() is.
  [[gnu::noinline, gnu::cold]] Buffer* try_grow(Buffer* old, std::int64_t t, std::int64_t b) noexcept {
    try {
      return grow(old, t, b);
    } catch (const std::bad_alloc&) {
      return nullptr;
    }
  }

  // Owner only, from push(). Returns the new current buffer. Kept out of line: push is
  // inlined where fork-join children are queued, and growing is rare.
  [[gnu::noinline, gnu::cold]] Buffer* grow(Buffer* old, std::int64_t t, std::int64_t b) {
    assert(old == buffers_.back().get() && "owner invariant: the current buffer is the newest");
    auto bigger = std::make_unique<Buffer>(old->capacity * 2);
    // t may be stale (thieves moved on): copying already-taken slots is harmless.
    for (std::int64_t i = t; i < b; ++i) {
      bigger->store(i, old->load(i));
    }
    Buffer* raw = bigger.get();
    buffers_.push_back(std::move(bigger));  // may throw: nothing is published yet
    // Release: pairs with the acquire load of buffer_ in steal(): a thief that
    // sees the new buffer sees the slots copied into it above.
    buffer_->store(raw, std::memory_order_release);
    return raw;
  }

  // top_ is written by thieves (CAS), bottom_ by the owner: separate cache lines.
  CachePadded<std::atomic<std::int64_t>> top_{0};
  CachePadded<std::atomic<std::int64_t>> bottom_{0};
  // Written by the owner on growth only, read by every thief: its own line too.
  CachePadded<std::atomic<Buffer*>> buffer_{nullptr};
  // Owner only (and the destructor): every buffer ever used, the current one last.
  std::vector<std::unique_ptr<Buffer>> buffers_;
};

}  // namespace weft::detail
