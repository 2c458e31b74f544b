'use strict'

// Runs kafkajs's transactional producer and read_committed consumer against an eddy broker
// for broker/compat_txn_kafkajs_test.go, which checks what this prints.
//
// Usage: node txn.js <broker addr> <topic> <input topic> <group> <messages per transaction>
//
// The producer runs four transactions on <topic>: "commit-a" committed, "abort-a" aborted,
// "commit-b" committed with offsets for <group> on <input topic> (partition 0 at 5,
// partition 1 at 7), "abort-b" aborted with offsets for <group> (partition 0 at 100). A
// plain producer then appends a sentinel to every partition, and a read_committed consumer
// reads the topic from the start up to the sentinels. One JSON object goes to stdout;
// kafkajs logs go to stderr.

const { Kafka, logLevel } = require('kafkajs')

const [addr, topic, inputTopic, groupId, count] = process.argv.slice(2)
const n = Number(count)
if (!addr || !topic || !inputTopic || !groupId || !Number.isInteger(n) || n < 1) {
  process.stderr.write('usage: node txn.js <broker addr> <topic> <input topic> <group> <messages (>= 1)>\n')
  process.exit(2)
}

// stderrLogs keeps stdout for the result: kafkajs's own console logger prints INFO to stdout.
const stderrLogs = () => ({ namespace, label, log }) => {
  process.stderr.write(JSON.stringify({ level: label, namespace, ...log }) + '\n')
}

const kafka = new Kafka({
  clientId: 'eddy-kafkajs-txn',
  brokers: [addr],
  logLevel: logLevel.INFO,
  logCreator: stderrLogs,
  connectionTimeout: 3000,
  requestTimeout: 10000,
  // Few, quick retries: a broker answer kafkajs cannot use should fail the run, not hang it.
  retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 5 },
})

// withTimeout rejects when p has not settled within ms, naming what was awaited.
const withTimeout = (p, ms, what) => {
  let timer
  const expired = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms)
  })
  return Promise.race([p, expired]).finally(() => clearTimeout(timer))
}

const producer = kafka.producer({
  transactionalId: 'eddy-kafkajs-txn',
  idempotent: true,
  maxInFlightRequests: 1,
})
const plain = kafka.producer()
const consumer = kafka.consumer({
  groupId: `${groupId}-reader`,
  readUncommitted: false,
  sessionTimeout: 10000,
  rebalanceTimeout: 10000,
  heartbeatInterval: 500,
  maxWaitTimeInMs: 100,
})

const main = async () => {
  const out = { transactions: [] }
  const admin = kafka.admin()
  await admin.connect()
  const partitions = (await admin.fetchTopicOffsets(topic)).map(p => p.partition)
  await admin.disconnect()

  await producer.connect()
  const runTxn = async (name, commit, offsets) => {
    const txn = await producer.transaction()
    const messages = []
    for (let i = 0; i < n; i++) {
      messages.push({ partition: i % partitions.length, value: `${name}-${String(i).padStart(3, '0')}` })
    }
    // Two sends, so the transaction holds several batches per partition.
    const half = Math.ceil(n / 2)
    await txn.send({ topic, messages: messages.slice(0, half) })
    await txn.send({ topic, messages: messages.slice(half) })
    if (offsets) {
      await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: inputTopic, partitions: offsets }] })
    }
    if (commit) {
      await txn.commit()
    } else {
      await txn.abort()
    }
    out.transactions.push({ name, committed: commit, values: messages.map(m => m.value) })
  }
  await runTxn('commit-a', true)
  await runTxn('abort-a', false)
  await runTxn('commit-b', true, [
    { partition: 0, offset: '5' },
    { partition: 1, offset: '7' },
  ])
  await runTxn('abort-b', false, [{ partition: 0, offset: '100' }])
  await producer.disconnect()

  const sentinel = `sentinel-${Date.now()}`
  await plain.connect()
  await plain.send({ topic, acks: -1, messages: partitions.map(partition => ({ partition, value: sentinel })) })
  await plain.disconnect()

  out.consumed = []
  const ended = new Set()
  let allEnded
  const done = new Promise(resolve => {
    allEnded = resolve
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ partition, message: m }) => {
      const value = m.value === null ? null : m.value.toString()
      if (value === sentinel) {
        ended.add(partition)
        if (ended.size === partitions.length) allEnded()
        return
      }
      if (!ended.has(partition)) out.consumed.push({ partition, offset: m.offset, value })
    },
  })
  await withTimeout(done, 15000, `reading up to the sentinels (${ended.size} of ${partitions.length} partitions)`)
  await consumer.disconnect()
  return out
}

main().then(
  out => {
    process.stdout.write(JSON.stringify(out) + '\n')
  },
  async err => {
    process.stderr.write(`kafkajs txn failed: ${err && err.stack ? err.stack : err}\n`)
    await Promise.allSettled([consumer.disconnect(), producer.disconnect(), plain.disconnect()])
    process.exit(1)
  }
)
