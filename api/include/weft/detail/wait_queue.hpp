#pragma once
// A FIFO of tasks waiting on one resource (a channel, a lock, a semaphore, an event),
// under the wait protocol of core/wait_cell.hpp. The resource guards the queue with
// its own mutex; every operation below is called with that mutex held.
//
// Protocol
//   * A task that must wait builds a WaitNode in its awaiting frame, arms its WaitCell
//     (TaskHeader::arm_wait) and, under the resource's mutex, pushes the node. After
//     releasing the mutex it re-checks its own cancellation (the Dekker half of
//     wait_cell.hpp); if it wins its own cell it resumes at once.
//   * The resource hands something over (a value, the lock, a permit, the event) by
//     placing the item into the first node (node.item or its own field; a step that
//     may throw is done before the node leaves the queue, so that a throw leaves the
//     waiter queued, never popped and forgotten), popping it, then try_hand_over:
//     winning the node's WaitCell wakes the task; losing it means a canceller won
//     first, so the resource takes the item back and goes on to the next node.
//     Nothing handed over is ever lost or held by a cancelled task.
//   * A task resumed with its cell CANCELLED takes the resource's mutex and removes its
//     node if it is still queued (remove returns false if the resource popped it, in
//     which case the resource also took back whatever it had placed). Only then may
//     the frame, and the node in it, go away.
//   * The resource's destructor passes through the mutex too: a task woken by a
//     hand-over may destroy the resource at once (an Event or a Channel in its own
//     frame, set or fed from another thread) while the thread that handed over still
//     holds the mutex. Every hand-over runs under the mutex and touches nothing of the
//     resource after unlocking it, and POSIX lets a mutex be destroyed as soon as it is
//     unlocked (tests/api/test_sync_last_touch.cpp).
// So a node is touched by the resource only under the mutex, and its task leaves only
// after passing through that mutex: the node cannot die while the resource uses it.
#include <cassert>
#include <cstdint>

#include <weft/detail/promise.hpp>

namespace weft::detail {

struct WaitNode {
  TaskHeader* task = nullptr;
  std::uint64_t generation = 0;
  WaitNode* prev = nullptr;
  WaitNode* next = nullptr;
  bool queued = false;
  // For the resource's use: what was handed over (e.g. "closed" for a channel).
  int status = 0;
};

class WaitQueue {
 public:
  WaitQueue() = default;
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;
  ~WaitQueue() { assert(empty() && "WaitQueue destroyed with tasks still waiting on it"); }

  bool empty() const noexcept { return head_ == nullptr; }

  void push_back(WaitNode& node) noexcept {
    assert(!node.queued && "WaitQueue::push_back: node already queued");
    node.prev = tail_;
    node.next = nullptr;
    if (tail_)
      tail_->next = &node;
    else
      head_ = &node;
    tail_ = &node;
    node.queued = true;
  }

  // The waiting task, under the resource's mutex: arms its wait and queues its node.
  // Returns the generation (then release the mutex and call suspend_unless_cancelled).
  std::uint64_t enqueue(TaskHeader& self, WaitNode& node) noexcept {
    node.task = &self;
    node.generation = self.arm_wait();
    push_back(node);
    return node.generation;
  }

  WaitNode* front() const noexcept { return head_; }

  WaitNode* pop_front() noexcept {
    WaitNode* node = head_;
    if (node != nullptr) unlink(*node);
    return node;
  }

  // The waiter leaving after a cancel. False if the resource had popped it already.
  bool remove(WaitNode& node) noexcept {
    if (!node.queued) return false;
    unlink(node);
    return true;
  }

  // Wins the node's wait and reschedules its task: true means the item placed into the
  // node now belongs to the task. False: a canceller won; take the item back.
  static bool try_hand_over(WaitNode& node) noexcept {
    if (!node.task->wait.try_wake(node.generation)) return false;
    wake_task(*node.task);
    return true;
  }

 private:
  void unlink(WaitNode& node) noexcept {
    if (node.prev)
      node.prev->next = node.next;
    else
      head_ = node.next;
    if (node.next)
      node.next->prev = node.prev;
    else
      tail_ = node.prev;
    node.prev = node.next = nullptr;
    node.queued = false;
  }

  WaitNode* head_ = nullptr;
  WaitNode* tail_ = nullptr;
};

}  // namespace weft::detail
