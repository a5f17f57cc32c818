#pragma once
// The hierarchical timer wheel: the clock-driven half of sleep_for, wait_for and
// cancel_after. Time is counted in ticks (1 ms by default; the wheel itself does not
// care), as an unsigned 64-bit number that only moves forward.
//
// Levels and slots. LEVELS = 6 wheels of SLOTS = 64 slots. A tick number is read as
// 6-bit digits: digit L (bits 6L .. 6L+5) selects the slot of level L. Level 0 slots are
// one tick wide, level L slots 64^L ticks wide, so the six levels span 64^6 = 2^36 ticks
// (about 2.2 years at 1 ms). An entry with deadline d > now is filed at
//     level = the highest digit in which d and now differ  ((bit_width(d ^ now) - 1) / 6)
//     slot  = digit `level` of d                             ((d >> 6 level) & 63)
// so d and now share every digit above `level`, and the entry's slot is strictly ahead
// of now's own position at that level. Two consequences carry the whole design:
//   * No wrap-around: every occupied slot of level L lies strictly after now's digit L,
//     so the lowest set bit of the level's occupancy mask (std::countr_zero) is the
//     next slot to come due, and its start tick is now's digits above L, then the slot.
//   * Levels are ordered in time: every entry of level L is earlier than every entry of
//     a level above it (they differ from now in a higher digit, where d's digit is the
//     larger). So the earliest entry lives in the lowest occupied level, in its first
//     occupied slot. At level 0 a slot holds exactly one tick, so its deadline is known
//     without looking at the entries.
//
// Cascading. When time reaches the start tick of an occupied slot of level L > 0, the
// slot is emptied and its entries re-filed relative to the new now: they share one
// more digit with now, so each goes to a lower level (or expires, if its deadline is
// that very tick). An entry therefore moves at most LEVELS - 1 times before it expires.
// Re-filing at exactly the start tick is what keeps the invariant above true at every
// moment: the filing (level, slot) of every entry is the one `file` would compute now.
//
// Far and overdue entries. Two plain lists sit beside the levels:
//   * beyond: deadlines past the wheel's range (d differs from now above bit 36). This
//     is the "farthest slot", one past level 5: its entries are re-filed when time
//     reaches the start of the 2^36-tick epoch of the earliest of them, and so still
//     expire exactly at their deadline, however far away.
//   * overdue: entries inserted with deadline <= now. They expire at the next advance(),
//     even advance(now()). They are the earliest of all, so next_deadline() reports them.
//
// Advancing. advance(t) repeatedly finds the next occupied slot (lowest occupied level,
// lowest bit: six mask tests and a countr_zero), jumps now to its start tick and expires
// or cascades it, until the next one starts after t; then now = t. Empty stretches are
// skipped whole, so the cost is O(entries expired + entries cascaded), however far t
// jumps: a ManualClock jumping an hour costs what jumping one tick over the same
// entries would. Due entries are first moved to a "draining" list without calling out,
// then handed to on_expire one at a time, each already unlinked.
//
// Chains. A slot is not one list but CHAINS = 8 lists (their heads fill one cache
// line), filled round-robin. Emptying a slot walks its entries, and walking one linked
// list is a chain of dependent cache misses: with a million timers the entries are
// cold by the time their slot comes due, and the walk runs at one DRAM latency per
// entry. Walking the 8 chains in lock step, prefetching each chain's next entry, keeps
// up to 8 misses in flight: at 1M timers, insert + expire fell from about 350 to 60 ns
// per timer (bench/timer), at the price of a few ns at 1,000 timers (8 heads to test).
// The slots make the wheel 24 KiB and 64-byte aligned.
//
// Why intrusive. A TimerEntry lives inside the awaiting coroutine frame (or whatever
// embeds it): inserting and cancelling a timer allocates nothing, and both are O(1)
// pointer splices. Lists are singly headed with a back-pointer to the previous link
// (`pprev`, as in Linux's hlist): unlinking needs no knowledge of the list head, so an
// entry can be removed from a slot, the overdue list or the draining list alike; and a
// list costs one pointer. The price: an entry must not move or die while linked
// (copying is deleted; the destructor asserts), and the wheel must not move either
// (entries point into its slot heads).
//
// Guarantees.
//   * Never early, never late: inside advance(t), an entry expires iff its deadline <= t.
//   * Order: within one advance, entries expire in non-decreasing deadline order, except
//     that entries already overdue when advance starts expire first, in any order among
//     themselves. Entries of the same tick expire in an unspecified order.
//   * Inserts during advance (from on_expire): while on_expire runs, now() is the tick
//     being expired. An entry inserted then with deadline > now() is filed normally and
//     expires in this same call if its deadline <= t (in deadline order); one with
//     deadline <= now() goes to the overdue list and expires at the NEXT advance. That
//     keeps advance finite: a callback that re-arms itself at "now" cannot spin forever.
//   * Cancel during advance: on_expire may cancel any entry, including ones that are due
//     in this same call; a cancelled entry is never passed to on_expire.
//   * next_deadline() is EXACT: the smallest deadline of all linked entries. It is
//     cached (O(1) while valid); recomputing it is O(1) when the earliest entry is at
//     level 0, otherwise a scan of the one earliest slot (or of the overdue / beyond
//     list when that is where the earliest entry is). The cache is dropped only when an
//     entry holding the minimum deadline leaves; inserts just lower it.
//   * If on_expire throws, the exception propagates; the wheel stays consistent, now()
//     is the tick that was being expired, and the due entries not yet handed out expire
//     at the next advance.
//
// Threads. None: the wheel is a plain single-threaded structure. The scheduler
// serialises every call (one wheel per worker, or one behind a lock); making a cancel
// from another thread safe against a concurrent expiry is its job (the wait cell decides
// who wins; the wheel's cancel/advance must still run under the wheel's serialisation).
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace weft::detail {

class TimerWheel;

// One pending timer. Embed it (or derive from it) in the waiting object; on_expire gets
// the entry back, and the owner finds its object from it (static_cast to the derived
// type, or the enclosing member).
struct TimerEntry {
  TimerEntry() = default;
  TimerEntry(const TimerEntry&) = delete;
  TimerEntry& operator=(const TimerEntry&) = delete;
  // A linked entry dying would leave a dangling pointer in the wheel.
  ~TimerEntry() { assert(!linked() && "TimerEntry destroyed while still in a wheel: cancel it first"); }

  // In a wheel right now (inserted, and neither expired nor cancelled since).
  bool linked() const noexcept { return pprev_ != nullptr; }
  // The deadline given to the last insert, in ticks.
  std::uint64_t deadline() const noexcept { return deadline_; }

  // The deadline's word before the first insert, or after one if the owner set it since:
  // the owner's to use until it inserts, which overwrites it (a sleep keeps its target
  // time there, one word less in a sleeping frame). Setting it while linked would
  // corrupt the wheel.
  std::uint64_t owner_word() const noexcept { return deadline_; }
  void set_owner_word(std::uint64_t value) noexcept {
    assert(!linked() && "TimerEntry::set_owner_word: the entry is in a wheel");
    deadline_ = value;
  }

 private:
  friend class TimerWheel;
  TimerEntry* next_ = nullptr;     // next entry of the same list, or null
  TimerEntry** pprev_ = nullptr;   // the link that points at this entry; null = unlinked
  std::uint64_t deadline_ = 0;     // absolute tick
  std::uint8_t level_ = 0;         // 0..LEVELS-1, or one of the pseudo-levels below
  std::uint8_t slot_ = 0;          // meaningful only for a real level
  std::uint8_t chain_ = 0;         // which of the slot's lists (real levels only)
};

class TimerWheel {
 public:
  static constexpr unsigned LEVELS = 6, SLOTS = 64;  // 64^6 ticks ≈ 2.2 years at 1 ms/tick
  static constexpr unsigned SLOT_BITS = 6;
  static_assert(SLOTS == 1u << SLOT_BITS, "one slot index is one 6-bit digit of the tick");
  static constexpr std::uint64_t SLOT_MASK = SLOTS - 1;
  static constexpr unsigned CHAINS = 8;  // lists per slot: see "Chains" above
  // Ticks spanned by all levels together: one "epoch" of the beyond list.
  static constexpr std::uint64_t RANGE = std::uint64_t{1} << (SLOT_BITS * LEVELS);

  explicit TimerWheel(std::uint64_t now_tick = 0) noexcept : now_(now_tick) {}
  // Entries point into slot heads: the wheel must stay where it is.
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;
  // Unlinks whatever is still in (without expiring it), so that the entries' own
  // destructors do not fire their "still linked" assertion.
  ~TimerWheel() { clear(); }

  // The tick last advanced to (inside on_expire: the tick being expired).
  std::uint64_t now() const noexcept { return now_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  // O(1). See the header comment for deadlines <= now() and beyond the range.
  void insert(TimerEntry& entry, std::uint64_t deadline_tick) noexcept {
    assert(!entry.linked() && "insert: entry already in a wheel");
    entry.deadline_ = deadline_tick;
    if (size_ == 0) {
      // The only entry is the minimum: the cache is exact again for free.
      min_cache_ = deadline_tick;
      min_valid_ = true;
    } else if (min_valid_ && deadline_tick < min_cache_) {
      min_cache_ = deadline_tick;
    }
    ++size_;
    file(entry);
  }

  // O(1). False if the entry is not linked (already expired or cancelled). The entry
  // must be in this wheel, not another one.
  bool cancel(TimerEntry& entry) noexcept {
    if (!entry.linked()) return false;
    remove(entry);
    return true;
  }

  // Moves time to now_tick (>= now()) and calls on_expire(TimerEntry&) once for every
  // entry whose deadline <= now_tick, already unlinked. Returns how many expired.
  // on_expire may insert and cancel entries (see the header comment), but must not call
  // advance() itself.
  template <class F>
  std::size_t advance(std::uint64_t now_tick, F&& on_expire) {
    assert(now_tick >= now_ && "advance: time must not go backwards");
    assert(!advancing_ && "advance: called again from inside on_expire");
    AdvancingFlag flag{advancing_};
    // Entries inserted as overdue since the last call expire now; the ones on_expire
    // inserts as overdue from here on go to the (now empty) overdue list: next call.
    splice_overdue_into_draining();
    std::size_t expired = 0;
    for (;;) {
      // Hand out what is due at now_. Pop one at a time from the head, so that a cancel
      // from on_expire (which unlinks from this same list) is always respected.
      while (draining_ != nullptr) {
        TimerEntry& entry = *draining_;
        remove(entry);
        ++expired;
        on_expire(entry);
      }
      if (!step(now_tick)) break;
    }
    now_ = now_tick;
    return expired;
  }

  // The exact smallest deadline among linked entries; nullopt if empty. O(1) when
  // cached; see the header comment for the cost of a recomputation.
  std::optional<std::uint64_t> next_deadline() const noexcept {
    if (size_ == 0) return std::nullopt;
    if (!min_valid_) {
      min_cache_ = compute_min();
      min_valid_ = true;
    }
    return min_cache_;
  }

  // Unlinks every entry without expiring it. O(size()).
  void clear() noexcept {
    for (auto& level : slots_)
      for (Slot& slot : level)
        for (TimerEntry*& head : slot.chain) drop_all(head);
    drop_all(overdue_);
    drop_all(draining_);
    drop_all(beyond_);
    for (std::uint64_t& bits : occupied_) bits = 0;
    size_ = 0;
    min_valid_ = false;
  }

 private:
  // Pseudo-levels for the two side lists (and the draining list, which counts as
  // overdue). Any value >= LEVELS tells remove() that there is no occupancy bit.
  static constexpr std::uint8_t OVERDUE_LEVEL = LEVELS;
  static constexpr std::uint8_t BEYOND_LEVEL = LEVELS + 1;
  static constexpr std::uint64_t NO_DEADLINE = ~std::uint64_t{0};

  // One slot: the heads of its chains, one cache line.
  struct alignas(64) Slot {
    TimerEntry* chain[CHAINS] = {};
    bool empty() const noexcept {
      // OR of the heads: branch-free, one cache line, vectorises.
      std::uintptr_t any = 0;
      for (const TimerEntry* head : chain) any |= reinterpret_cast<std::uintptr_t>(head);
      return any == 0;
    }
    std::uint64_t min_deadline() const noexcept {
      std::uint64_t best = NO_DEADLINE;
      for (const TimerEntry* head : chain) {
        const std::uint64_t m = list_min(head);
        if (m < best) best = m;
      }
      return best;
    }
  };

  // Resets advancing_ even when on_expire throws.
  struct AdvancingFlag {
    bool& flag;
    explicit AdvancingFlag(bool& f) noexcept : flag(f) { flag = true; }
    ~AdvancingFlag() { flag = false; }
    AdvancingFlag(const AdvancingFlag&) = delete;
    AdvancingFlag& operator=(const AdvancingFlag&) = delete;
  };

  // hlist primitives: push at the head; unlink through pprev, no head needed.
  static void push(TimerEntry*& head, TimerEntry& entry) noexcept {
    entry.next_ = head;
    if (head != nullptr) head->pprev_ = &entry.next_;
    head = &entry;
    entry.pprev_ = &head;
  }
  static void unlink(TimerEntry& entry) noexcept {
    *entry.pprev_ = entry.next_;
    if (entry.next_ != nullptr) entry.next_->pprev_ = entry.pprev_;
    entry.next_ = nullptr;
    entry.pprev_ = nullptr;  // marks it unlinked
  }
  static void drop_all(TimerEntry*& head) noexcept {
    while (head != nullptr) unlink(*head);
  }
  static std::uint64_t list_min(const TimerEntry* head) noexcept {
    std::uint64_t best = NO_DEADLINE;
    for (; head != nullptr; head = head->next_)
      if (head->deadline_ < best) best = head->deadline_;
    return best;
  }

  // Where an entry goes now, relative to now_: see the header comment. Does not touch
  // size_ or the min cache (the caller accounts; a re-file changes neither).
  void file(TimerEntry& entry) noexcept {
    const std::uint64_t deadline = entry.deadline_;
    if (deadline <= now_) {
      entry.level_ = OVERDUE_LEVEL;
      push(overdue_, entry);
      return;
    }
    // deadline != now_, so the xor is non-zero and bit_width >= 1.
    const unsigned level = (std::bit_width(deadline ^ now_) - 1) / SLOT_BITS;
    if (level >= LEVELS) {
      entry.level_ = BEYOND_LEVEL;
      push(beyond_, entry);
      return;
    }
    const unsigned slot = static_cast<unsigned>((deadline >> (level * SLOT_BITS)) & SLOT_MASK);
    assert(slot > ((now_ >> (level * SLOT_BITS)) & SLOT_MASK) && "file: slot must lie ahead of now");
    entry.level_ = static_cast<std::uint8_t>(level);
    entry.slot_ = static_cast<std::uint8_t>(slot);
    // Round-robin keeps the chains of a slot equally long, so that they end together.
    entry.chain_ = static_cast<std::uint8_t>(next_chain_++ % CHAINS);
    push(slots_[level][slot].chain[entry.chain_], entry);
    occupied_[level] |= std::uint64_t{1} << slot;
  }

  // Moves an entry onto the draining list (it stays linked and counted).
  void to_draining(TimerEntry& entry) noexcept {
    entry.level_ = OVERDUE_LEVEL;  // no occupancy bit to maintain any more
    push(draining_, entry);
  }

  // Takes an entry out for good (cancel or expiry).
  void remove(TimerEntry& entry) noexcept {
    unlink(entry);
    // The slot may now be empty: its bit must go, or the next-slot search would stop
    // there. Only when this chain emptied can the slot have (one cache line to check).
    if (entry.level_ < LEVELS) {
      const Slot& slot = slots_[entry.level_][entry.slot_];
      if (slot.chain[entry.chain_] == nullptr && slot.empty())
        occupied_[entry.level_] &= ~(std::uint64_t{1} << entry.slot_);
    }
    --size_;
    // Only losing (one holder of) the minimum can make the cache wrong.
    if (min_valid_ && entry.deadline_ == min_cache_) min_valid_ = false;
  }

  void splice_overdue_into_draining() noexcept {
    if (overdue_ == nullptr) return;
    if (draining_ == nullptr) {
      draining_ = overdue_;
      draining_->pprev_ = &draining_;  // the first entry's back-link now names draining_
    } else {
      // Only after on_expire threw: walk to the tail of the leftovers and append.
      TimerEntry* tail = draining_;
      while (tail->next_ != nullptr) tail = tail->next_;
      tail->next_ = overdue_;
      overdue_->pprev_ = &tail->next_;
    }
    overdue_ = nullptr;
  }

  // The next event at or before `limit`: jumps now_ to it and moves its due entries to
  // draining_ (cascading the rest down). False (now_ unchanged) if there is none.
  bool step(std::uint64_t limit) noexcept {
    for (unsigned level = 0; level < LEVELS; ++level) {
      const std::uint64_t bits = occupied_[level];
      if (bits == 0) continue;
      // Lowest occupied level, lowest occupied slot: the earliest entries (header comment).
      const unsigned slot = static_cast<unsigned>(std::countr_zero(bits));
      const unsigned shift = level * SLOT_BITS;
      assert(slot > ((now_ >> shift) & SLOT_MASK) && "step: occupied slot behind now");
      // now_'s digits above this level, then the slot's digit, then zeros.
      const std::uint64_t above = ~((std::uint64_t{1} << (shift + SLOT_BITS)) - 1);
      const std::uint64_t start = (now_ & above) | (std::uint64_t{slot} << shift);
      if (start > limit) return false;
      now_ = start;
      cascade(level, slot);
      return true;
    }
    if (beyond_ == nullptr) return false;
    // Levels empty: the next event is the start of the epoch of the earliest far entry.
    // Jumping there directly (not epoch by epoch) keeps huge jumps cheap.
    const std::uint64_t start = list_min(beyond_) & ~(RANGE - 1);
    if (start > limit) return false;
    assert(start > now_ && "step: beyond entry in the current epoch");
    now_ = start;
    refile_beyond();
    return true;
  }

  // now_ is the start tick of (level, slot): expire its entries or move them down.
  void cascade(unsigned level, unsigned slot) noexcept {
    Slot& from = slots_[level][slot];
    // The whole slot empties here; re-filing never targets it (lower level), and no
    // callback runs before it is done, so the chains can be detached wholesale.
    occupied_[level] &= ~(std::uint64_t{1} << slot);
    TimerEntry* cursor[CHAINS];
    unsigned live = 0;  // bit c: chain c has entries left (few entries: few chains visited)
    for (unsigned c = 0; c < CHAINS; ++c) {
      cursor[c] = from.chain[c];
      from.chain[c] = nullptr;
      live |= static_cast<unsigned>(cursor[c] != nullptr) << c;
    }
    // Lock step over the chains: the loads of one chain do not wait for another's, and
    // the prefetch starts each chain's next miss while this round's entries are filed.
    while (live != 0) {
      for (unsigned round = live; round != 0; round &= round - 1) {
        const unsigned c = static_cast<unsigned>(std::countr_zero(round));
        TimerEntry* entry = cursor[c];
        TimerEntry* next = entry->next_;
        if (next != nullptr)
          __builtin_prefetch(next);
        else
          live &= ~(1u << c);
        cursor[c] = next;
        entry->next_ = nullptr;   // detached: push() below rewrites both links
        entry->pprev_ = nullptr;
        if (entry->deadline_ == now_) {
          to_draining(*entry);
        } else {
          assert(level > 0 && "cascade: a level-0 slot holds exactly its own tick");
          file(*entry);
          assert(entry->level_ < level && "cascade: an entry must move down");
        }
      }
    }
  }

  // now_ is the start of a new epoch: bring the beyond entries of this epoch in.
  void refile_beyond() noexcept {
    TimerEntry* entry = beyond_;
    while (entry != nullptr) {
      TimerEntry* next = entry->next_;  // read before unlinking rewrites it
      if ((entry->deadline_ ^ now_) < RANGE) {  // same epoch as now_
        unlink(*entry);
        if (entry->deadline_ == now_)
          to_draining(*entry);
        else
          file(*entry);  // deadline > now_ in this epoch: a real level
      }
      entry = next;
    }
  }

  std::uint64_t compute_min() const noexcept {
    // Overdue and draining entries are <= now_, everything else > now_.
    if (overdue_ != nullptr || draining_ != nullptr) {
      const std::uint64_t a = list_min(overdue_), b = list_min(draining_);
      return a < b ? a : b;
    }
    for (unsigned level = 0; level < LEVELS; ++level) {
      const std::uint64_t bits = occupied_[level];
      if (bits == 0) continue;
      const unsigned slot = static_cast<unsigned>(std::countr_zero(bits));
      // A level-0 slot is a single tick: now_'s upper digits and the slot.
      if (level == 0) return (now_ & ~SLOT_MASK) | slot;
      return slots_[level][slot].min_deadline();
    }
    return list_min(beyond_);
  }

  std::uint64_t now_;
  std::size_t size_ = 0;
  std::uint64_t occupied_[LEVELS] = {};        // bit s set iff slots_[level][s] has an entry
  Slot slots_[LEVELS][SLOTS];
  TimerEntry* overdue_ = nullptr;              // deadline <= now_ at insert: next advance
  TimerEntry* draining_ = nullptr;             // due in the running advance
  TimerEntry* beyond_ = nullptr;               // past the levels' range
  mutable std::uint64_t min_cache_ = 0;        // next_deadline(), valid iff min_valid_
  mutable bool min_valid_ = false;
  unsigned next_chain_ = 0;                    // round-robin chain choice
  bool advancing_ = false;                     // catches a re-entrant advance
};

}  // namespace weft::detail
