'use strict'

// Runs kafkajs (its own protocol code, version choices and group protocol) against an eddy
// broker for broker/compat_kafkajs_test.go, which checks what this prints.
//
// Usage: node compat.js <broker addr> <topic> <group> <messages>
//
// It lists and describes the topic with the admin client, produces the messages in four
// sends (idempotent, acks -1, every other send GZIP-compressed), consumes them all in a
// consumer group from the beginning, commits the next offset of every partition, disconnects,
// and reads the group's offsets back. One JSON object goes to stdout; kafkajs logs go to
// stderr (KAFKAJS_LOG_LEVEL=debug shows every request).

const { Kafka, CompressionTypes, Partitioners, logLevel } = require('kafkajs')

const [addr, topic, groupId, count] = process.argv.slice(2)
const n = Number(count)
if (!addr || !topic || !groupId || !Number.isInteger(n) || n < 4) {
  process.stderr.write('usage: node compat.js <broker addr> <topic> <group> <messages (>= 4)>\n')
  process.exit(2)
}

// stderrLogs keeps stdout for the result: kafkajs's own console logger prints INFO to stdout.
const stderrLogs = () => ({ namespace, label, log }) => {
  process.stderr.write(JSON.stringify({ level: label, namespace, ...log }) + '\n')
}

const kafka = new Kafka({
  clientId: 'eddy-kafkajs-compat',
  brokers: [addr],
  logLevel: logLevel.INFO,
  logCreator: stderrLogs,
  connectionTimeout: 3000,
  requestTimeout: 10000,
  // Few, quick retries: a broker answer kafkajs cannot use should fail the run, not hang it.
  retry: { initialRetryTime: 100, maxRetryTime: 1000, retries: 5 },
})

// message builds message i the way the Go test expects it; the padding makes GZIP worth it.
const message = i => {
  const id = String(i).padStart(4, '0')
  return { key: `key-${id}`, value: `value-${id} ` + 'kafkajs compressible payload '.repeat(4) }
}

// withTimeout rejects when p has not settled within ms, naming what was awaited.
const withTimeout = (p, ms, what) => {
  let timer
  const expired = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms)
  })
  return Promise.race([p, expired]).finally(() => clearTimeout(timer))
}

const admin = kafka.admin()
const producer = kafka.producer({
  idempotent: true,
  maxInFlightRequests: 1,
  createPartitioner: Partitioners.DefaultPartitioner,
})
const consumer = kafka.consumer({
  groupId,
  sessionTimeout: 10000,
  rebalanceTimeout: 10000,
  heartbeatInterval: 500,
  maxWaitTimeInMs: 100,
})

const main = async () => {
  const out = {}

  await admin.connect()
  out.topics = await admin.listTopics()
  const md = await admin.fetchTopicMetadata({ topics: [topic] })
  out.metadata = md.topics
  out.offsetsBefore = await admin.fetchTopicOffsets(topic)

  await producer.connect()
  out.produced = []
  const perSend = Math.ceil(n / 4)
  for (let start = 0, send = 0; start < n; start += perSend, send++) {
    const gzip = send % 2 === 1
    const messages = []
    for (let i = start; i < Math.min(n, start + perSend); i++) {
      messages.push(message(i))
      out.produced.push({ key: message(i).key, gzip })
    }
    const results = await producer.send({
      topic,
      acks: -1,
      compression: gzip ? CompressionTypes.GZIP : CompressionTypes.None,
      messages,
    })
    for (const r of results) {
      if (r.errorCode !== 0) {
        throw new Error(`send ${send}: partition ${r.partition} error code ${r.errorCode}`)
      }
    }
  }
  await producer.disconnect()
  out.offsetsAfter = await admin.fetchTopicOffsets(topic)

  out.consumed = []
  const seen = new Set()
  let allArrived
  const arrived = new Promise(resolve => {
    allArrived = resolve
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic: t, partition, message: m }) => {
      out.consumed.push({
        topic: t,
        partition,
        offset: m.offset,
        key: m.key === null ? null : m.key.toString(),
        value: m.value === null ? null : m.value.toString(),
      })
      seen.add(`${partition}/${m.offset}`)
      if (seen.size >= n) allArrived()
    },
  })
  await withTimeout(arrived, 15000, `consuming ${n} messages (got ${seen.size} so far)`)

  const next = new Map()
  for (const c of out.consumed) {
    const o = BigInt(c.offset) + 1n
    if (!next.has(c.partition) || next.get(c.partition) < o) next.set(c.partition, o)
  }
  out.committed = [...next].map(([partition, offset]) => ({ partition, offset: String(offset) }))
  await consumer.commitOffsets(out.committed.map(c => ({ topic, ...c })))
  await consumer.disconnect()

  out.fetchedOffsets = await admin.fetchOffsets({ groupId, topics: [topic] })
  await admin.disconnect()
  return out
}

main().then(
  out => {
    process.stdout.write(JSON.stringify(out) + '\n')
  },
  async err => {
    process.stderr.write(`kafkajs compat failed: ${err && err.stack ? err.stack : err}\n`)
    await Promise.allSettled([consumer.disconnect(), producer.disconnect(), admin.disconnect()])
    process.exit(1)
  }
)
