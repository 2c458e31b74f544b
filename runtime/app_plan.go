package runtime

// PartitionPlan is how many tasks each sub-topology runs and how many partitions each
// repartition topic has. The application and the test driver both size topics with
// PlanPartitions, so a topology sees the same tasks in tests and in production.
type PartitionPlan struct {
	// Tasks is the task count of each sub-topology, by ID; at least 1.
	Tasks map[int]int32
	// Repartitions is the partition count of each repartition topic, by resolved name.
	Repartitions map[string]int32
}

// PlanPartitions sizes tasks and repartition topics: a sub-topology has as many tasks
// as its largest source topic has partitions, and a repartition topic without an
// explicit count takes the task count of the sub-topology writing it. Counts flow down
// chains of repartition topics, so this repeats until nothing moves; a repartition
// topic whose writer is unknown (a sink choosing topics per record) or sized only by a
// cycle gets the largest task count. external returns the partition count of a topic
// outside the application.
func PlanPartitions(subs []Subtopology, reps []RepartitionTopicInfo, external func(topic string) int32) PartitionPlan {
	plan := PartitionPlan{Tasks: map[int]int32{}, Repartitions: map[string]int32{}}
	for _, r := range reps {
		plan.Repartitions[r.Topic] = r.Partitions
	}
	count := func(topic string) int32 {
		if c, internal := plan.Repartitions[topic]; internal {
			return c
		}
		return external(topic)
	}
	for changed := true; changed; {
		changed = false
		for _, st := range subs {
			n := int32(0)
			for _, name := range st.SourceTopics {
				n = max(n, count(name))
			}
			if n > plan.Tasks[st.ID] {
				plan.Tasks[st.ID], changed = n, true
			}
		}
		for _, r := range reps {
			if r.Partitions == 0 && r.WriterSubtopology >= 0 && plan.Tasks[r.WriterSubtopology] > plan.Repartitions[r.Topic] {
				plan.Repartitions[r.Topic], changed = plan.Tasks[r.WriterSubtopology], true
			}
		}
	}
	widest := int32(1)
	for _, n := range plan.Tasks {
		widest = max(widest, n)
	}
	for _, r := range reps {
		if plan.Repartitions[r.Topic] == 0 {
			plan.Repartitions[r.Topic] = widest
		}
	}
	for _, st := range subs {
		if plan.Tasks[st.ID] == 0 {
			plan.Tasks[st.ID] = 1
			for _, name := range st.SourceTopics {
				plan.Tasks[st.ID] = max(plan.Tasks[st.ID], count(name))
			}
		}
	}
	return plan
}
