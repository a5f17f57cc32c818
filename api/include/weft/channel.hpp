#pragma once
// Channel<T>: a FIFO queue between tasks (asyncio.Queue with close), bounded or not.
//
// State, all under one std::mutex per channel:
//   * buffer_: the values sent and not yet received, oldest first;
//   * receivers_, senders_: WaitQueues (detail/wait_queue.hpp) of suspended tasks; a
//     sender's node carries its value, a receiver's node has an empty slot;
//   * closed_.
//
// Invariants (between two critical sections):
//   I1  receivers_ non-empty  =>  buffer_ empty. A value arriving while a receiver waits
//       goes to that receiver's slot, never to the buffer, so receivers are served in
//       arrival order and no value overtakes another.
//   I2  senders_ non-empty    =>  buffer_.size() == capacity_. Whenever a recv frees a
//       place, the first waiting sender's value moves into the buffer at once (so the
//       order of values is the order of the sends), and the sender is woken.
//   I3  closed_               =>  senders_ empty, and receivers_ empty (close wakes all;
//       with I1 the buffer was empty if any receiver waited).
//   Nodes in the queues may belong to tasks whose wait a canceller has already won;
//   they stay until the task removes itself (under the mutex) or the channel pops them.
//   The invariants count them: a popped dead node is just skipped.
//
// Hand-over (the wait protocol of core/wait_cell.hpp): the channel places the value
// into the node (or the sender's value into the buffer) *before* try_hand_over, since a
// winning hand-over lets the task run and destroy its frame at once. A lost hand-over
// means the task was cancelled first: the channel takes the value back (out of the
// receiver's slot; back out of the buffer into the sender's node) and tries the next
// node. So:
//   * a receiver cancelled while a value was being handed to it does not lose it: the
//     value goes to the next receiver, or to the buffer;
//   * a sender cancelled while its value was being pulled keeps it: it was not sent
//     (the sender throws CancelledError; the value dies with its frame);
//   * a wait whose hand-over was won completes normally even if a cancel arrives at
//     that moment; the request is delivered at the next suspension point (API.md).
// A task resumed CANCELLED takes the mutex and removes its node (if the channel has not
// popped it, in which case the channel already took its value back) before its frame
// may go away.
//
// close(): senders waiting are woken with ChannelClosed; their values are dropped (they
// die with the sender's frame: a sender that needs it back must not send). Receivers
// waiting (only when the buffer is empty, I1) are woken with ChannelClosed. Values
// already buffered are still received after close; recv throws ChannelClosed once the
// closed channel is drained; send and try_send on a closed channel fail.
//
// Threads: try_send, try_recv, close, size, closed may be called from any thread, also
// outside the runtime (they may wake tasks). Awaiting send/recv happens only inside
// tasks. Wake-ups run under the channel's mutex (wake_task only schedules the task).
//
// A Channel is neither copyable nor movable: waiting tasks hold its address. unbounded()
// returns it as a prvalue (guaranteed elision): `auto ch = Channel<int>::unbounded();`.
// Share it by reference, or by std::shared_ptr (make_shared<Channel<T>>(capacity)).
// Destroy it only when no task waits on it (its WaitQueues assert that in debug builds):
// close() it and let the waiters leave first.
//
// T must be move-constructible; it may be move-only. Nothing requires assignment.
#include <cassert>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include <weft/detail/promise.hpp>
#include <weft/detail/wait_queue.hpp>
#include <weft/errors.hpp>

namespace weft {

template <class T>
class Channel;

namespace detail {

// A waiter of a channel: its slot holds the value being received or sent.
template <class T>
struct ChannelNode : WaitNode {
  std::optional<T> item;
};

// WaitNode::status values for a channel.
inline constexpr int kChannelDelivered = 0;
inline constexpr int kChannelClosed = 1;

template <class T>
class ChannelRecvAwaiter;
template <class T>
class ChannelSendAwaiter;

}  // namespace detail

template <class T>
class Channel {
 public:
  // Bounded: at most `capacity` values buffered; send waits when full. capacity >= 1.
  explicit Channel(std::size_t capacity) : capacity_(capacity) {
    if (capacity == 0) throw std::invalid_argument("weft::Channel: capacity must be at least 1");
  }
  // A signed capacity (a literal, an int) is checked before it becomes a size: -1 would
  // otherwise turn into a capacity of 2^64 - 1, a channel that never fills.
  template <std::signed_integral Capacity>
  explicit Channel(Capacity capacity) : Channel(checked_capacity(capacity)) {}

  // Unbounded: send never waits (asyncio.Queue(maxsize=0)).
  static Channel unbounded() { return Channel(UnboundedTag{}); }

  // Passes through the mutex, as Event, Mutex and Semaphore do: a receiver (or sender)
  // woken by a hand-over may destroy the channel at once, while the thread that handed
  // over (try_send from another thread, say) still holds the mutex and is about to
  // unlock it; the destructor waits for that unlock, the hand-over's last touch of the
  // channel (detail/wait_queue.hpp). Destroying a channel with tasks still waiting on
  // it is misuse (asserted in debug builds).
  ~Channel() {
    std::lock_guard guard(mutex_);
    assert(receivers_.empty() && senders_.empty() && "weft::Channel destroyed with tasks still waiting on it");
  }

  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // co_await ch.send(v): buffers v, or hands it to a waiting receiver; waits while the
  // buffer is full. Throws ChannelClosed if the channel is closed (before or while
  // waiting; the value is then dropped), CancelledError if cancelled while waiting (the
  // value was not sent).
  class SendOp {
   public:
    detail::ChannelSendAwaiter<T> weft_awaiter(detail::TaskHeader& self) && {
      return detail::ChannelSendAwaiter<T>(channel_, self, std::move(value_));
    }

   private:
    friend class Channel;
    SendOp(Channel& channel, T&& value) : channel_(channel), value_(std::move(value)) {}
    Channel& channel_;
    T value_;
  };

  // co_await ch.recv(): the oldest value; waits while there is none. Throws
  // ChannelClosed when the channel is closed and drained, CancelledError if cancelled
  // while waiting (no value is lost: one being handed over goes to the next receiver).
  class RecvOp {
   public:
    detail::ChannelRecvAwaiter<T> weft_awaiter(detail::TaskHeader& self) && {
      return detail::ChannelRecvAwaiter<T>(channel_, self);
    }

   private:
    friend class Channel;
    explicit RecvOp(Channel& channel) : channel_(channel) {}
    Channel& channel_;
  };

  // Two overloads rather than one by-value parameter, so a failed try_send leaves a
  // move-only argument with the caller.
  SendOp send(T&& value) { return SendOp(*this, std::move(value)); }
  SendOp send(const T& value) { return SendOp(*this, T(value)); }
  RecvOp recv() { return RecvOp(*this); }

  // Sends without waiting. False when the channel is full or closed; the argument is
  // then left untouched.
  bool try_send(T&& value) {
    std::lock_guard guard(mutex_);
    if (!can_send_now()) return false;
    std::optional<T> holder(std::move(value));
    deliver(holder);
    return true;
  }
  bool try_send(const T& value) {
    std::lock_guard guard(mutex_);
    if (!can_send_now()) return false;
    std::optional<T> holder(value);
    deliver(holder);
    return true;
  }

  // Receives without waiting: the oldest value, or nullopt when there is none (empty,
  // or closed and drained).
  std::optional<T> try_recv() {
    std::lock_guard guard(mutex_);
    if (buffer_.empty()) return std::nullopt;
    std::optional<T> value(take_front());
    return value;
  }

  // Closes the channel (idempotent): see the essay above.
  void close() {
    std::lock_guard guard(mutex_);
    if (closed_) return;
    closed_ = true;
    // Winning or losing, the node has left the queue: a loser (a cancelled task) throws
    // CancelledError and ignores the status.
    while (detail::WaitNode* node = senders_.pop_front()) {
      node->status = detail::kChannelClosed;
      detail::WaitQueue::try_hand_over(*node);
    }
    while (detail::WaitNode* node = receivers_.pop_front()) {
      node->status = detail::kChannelClosed;
      detail::WaitQueue::try_hand_over(*node);
    }
  }

  bool closed() const {
    std::lock_guard guard(mutex_);
    return closed_;
  }

  // Values buffered now (a snapshot). Values sitting in waiting senders are not counted.
  std::size_t size() const {
    std::lock_guard guard(mutex_);
    return buffer_.size();
  }

  // The capacity; std::numeric_limits<std::size_t>::max() for an unbounded channel.
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  template <std::signed_integral Capacity>
  static std::size_t checked_capacity(Capacity capacity) {
    if (capacity < 1) throw std::invalid_argument("weft::Channel: capacity must be at least 1");
    return static_cast<std::size_t>(capacity);
  }

  friend class detail::ChannelRecvAwaiter<T>;
  friend class detail::ChannelSendAwaiter<T>;
  struct UnboundedTag {};
  explicit Channel(UnboundedTag) : capacity_(std::numeric_limits<std::size_t>::max()) {}

  using Node = detail::ChannelNode<T>;

  // [mutex_] Whether a send would complete at once. By I1, a waiting receiver means an
  // empty buffer, so a send succeeds iff there is room or a receiver (room either way,
  // even if every waiting receiver turns out cancelled).
  bool can_send_now() const { return !closed_ && (buffer_.size() < capacity_ || !receivers_.empty()); }

  // [mutex_] Places a value that can_send_now() admitted: into the first live receiver's
  // slot, else into the buffer.
  void deliver(std::optional<T>& value) {
    while (detail::WaitNode* first = receivers_.front()) {
      Node& node = static_cast<Node&>(*first);
      // Into the slot while the receiver is still queued: if the move throws, it
      // still waits and nothing changed.
      node.item.emplace(std::move(*value));
      value.reset();
      receivers_.pop_front();
      node.status = detail::kChannelDelivered;
      if (detail::WaitQueue::try_hand_over(node)) return;
      // Lost: that receiver was cancelled. Take the value back; it goes on.
      value.emplace(std::move(*node.item));
      node.item.reset();
    }
    buffer_.emplace_back(std::move(*value));
    value.reset();
  }

  // [mutex_] Removes the oldest buffered value (buffer_ not empty), then refills the
  // place it left from the first live waiting sender (I2).
  T take_front() {
    // The refill comes first (the buffer holds one value more than its capacity
    // meanwhile), and a sender leaves its queue only once its value is in the buffer:
    // an exception (std::bad_alloc in emplace_back, a throwing move) then leaves every
    // waiter queued or handed over, never popped and forgotten.
    while (buffer_.size() - 1 < capacity_) {
      detail::WaitNode* first = senders_.front();
      if (first == nullptr) break;
      Node& node = static_cast<Node&>(*first);
      // Into the buffer first: a won hand-over may let the sender's frame go at once.
      buffer_.emplace_back(std::move(*node.item));
      senders_.pop_front();
      node.item.reset();
      node.status = detail::kChannelDelivered;
      if (detail::WaitQueue::try_hand_over(node)) break;
      // Lost: that sender was cancelled, its value was not sent. Give it back.
      node.item.emplace(std::move(buffer_.back()));
      buffer_.pop_back();
    }
    T value(std::move(buffer_.front()));
    buffer_.pop_front();
    return value;
  }

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<T> buffer_;            // [mutex_]
  detail::WaitQueue receivers_;     // [mutex_]
  detail::WaitQueue senders_;       // [mutex_]
  bool closed_ = false;             // [mutex_]
};

namespace detail {

// Both awaiters decide in await_ready, under the channel's mutex, whether the operation
// completes at once; if not, they keep holding the mutex into await_suspend, which arms
// the wait and queues the node before releasing it, so no hand-over can slip between the
// decision and the queueing. The fast path does not suspend; await_ready delivers a
// pending cancel request first, so every send/recv is still a suspension point.

template <class T>
class ChannelRecvAwaiter {
 public:
  ChannelRecvAwaiter(Channel<T>& channel, TaskHeader& self) : channel_(channel), self_(self) {}
  ChannelRecvAwaiter(const ChannelRecvAwaiter&) = delete;

  bool await_ready() {
    throw_if_cancel_pending(self_);
    lock_ = std::unique_lock(channel_.mutex_);
    if (!channel_.buffer_.empty()) {
      node_.item.emplace(channel_.take_front());
      lock_.unlock();
      return true;
    }
    if (channel_.closed_) {
      lock_.unlock();
      throw ChannelClosed();
    }
    return false;  // keep the mutex: await_suspend queues us under it
  }

  bool await_suspend(std::coroutine_handle<> handle) {
    self_.resume_point = handle;
    self_.set_awaiting(detail::Awaiting::ChannelRecv);
    channel_.receivers_.enqueue(self_, node_);
    armed_ = true;
    lock_.unlock();
    // The Dekker half of the task (core/wait_cell.hpp): a cancel that came after
    // await_ready's check is seen here; winning our own cell, we resume at once.
    return suspend_unless_cancelled(self_, node_.generation);
  }

  T await_resume() {
    self_.clear_awaiting();
    if (armed_) {
      if (self_.wait.status() == WaitCell::CANCELLED) {
        // Leave the queue before the frame goes. If the channel popped us, it lost the
        // hand-over and took its value back; the mutex orders us after that.
        {
          std::lock_guard guard(channel_.mutex_);
          channel_.receivers_.remove(node_);
        }
        throw_after_cancelled_wait(self_);
      }
      if (node_.status == kChannelClosed) throw ChannelClosed();
    }
    return std::move(*node_.item);
  }

 private:
  Channel<T>& channel_;
  TaskHeader& self_;
  std::unique_lock<std::mutex> lock_;
  ChannelNode<T> node_;
  bool armed_ = false;
};

template <class T>
class ChannelSendAwaiter {
 public:
  ChannelSendAwaiter(Channel<T>& channel, TaskHeader& self, T&& value) : channel_(channel), self_(self) {
    node_.item.emplace(std::move(value));
  }
  ChannelSendAwaiter(const ChannelSendAwaiter&) = delete;

  bool await_ready() {
    throw_if_cancel_pending(self_);
    lock_ = std::unique_lock(channel_.mutex_);
    if (channel_.closed_) {
      lock_.unlock();
      throw ChannelClosed();
    }
    if (channel_.can_send_now()) {
      channel_.deliver(node_.item);
      lock_.unlock();
      return true;
    }
    return false;  // full (I2 may hold): keep the mutex, queue in await_suspend
  }

  bool await_suspend(std::coroutine_handle<> handle) {
    self_.resume_point = handle;
    self_.set_awaiting(detail::Awaiting::ChannelSend);
    channel_.senders_.enqueue(self_, node_);
    armed_ = true;
    lock_.unlock();
    // The Dekker half, as in ChannelRecvAwaiter.
    return suspend_unless_cancelled(self_, node_.generation);
  }

  void await_resume() {
    self_.clear_awaiting();
    if (!armed_) return;
    if (self_.wait.status() == WaitCell::CANCELLED) {
      // If the channel popped us, it took our value back out of its buffer: not sent.
      {
        std::lock_guard guard(channel_.mutex_);
        channel_.senders_.remove(node_);
      }
      throw_after_cancelled_wait(self_);
    }
    if (node_.status == kChannelClosed) throw ChannelClosed();
  }

 private:
  Channel<T>& channel_;
  TaskHeader& self_;
  std::unique_lock<std::mutex> lock_;
  ChannelNode<T> node_;
  bool armed_ = false;
};

}  // namespace detail

}  // namespace weft
