package anthropic

// MinThinkingBudget is the smallest budget_tokens Anthropic accepts.
const MinThinkingBudget = 1024

// EffortBudget maps an OpenAI reasoning_effort to the thinking budget weir
// asks other providers for (Anthropic budget_tokens, Gemini thinkingBudget):
// minimal and low 1024, medium 8192, high 24576 (the values of Google's own
// OpenAI compatibility layer), xhigh 32768, none 0 (thinking off). ok is
// false for any other value.
func EffortBudget(effort string) (budget int64, ok bool) {
	switch effort {
	case "none":
		return 0, true
	case "minimal", "low":
		return 1024, true
	case "medium":
		return 8192, true
	case "high":
		return 24576, true
	case "xhigh":
		return 32768, true
	}
	return 0, false
}

// BudgetEffort is the inverse of EffortBudget for any budget: below 4096 is
// "low", below 16384 "medium", anything larger "high"; 0 or less is "none".
func BudgetEffort(budget int64) string {
	switch {
	case budget <= 0:
		return "none"
	case budget < 4096:
		return "low"
	case budget < 16384:
		return "medium"
	}
	return "high"
}
