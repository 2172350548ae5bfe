# Seed 001 (Active Task Tracking), "Adding Task Tracking to Your Module" and
# "API Functions" -- verbatim but for the import line (was: from dashboard
# import ...); `process_candle` and `data` are stand-ins for the trading
# bot's own objects.
# Import the task tracking functions
from tasklight import add_task, update_task, remove_task

# ---- stand-ins for the seed application's own objects ----
def process_candle(candle):
    pass


data = [{"close": 100 + i} for i in range(250)]
# ---- end of stand-ins ----

def run_backtest(strategy_name, data):
    """Example: Backtest with task tracking"""
    
    # 1. Add task when starting
    task_id = add_task(
        task_name=f"Backtest - {strategy_name}",
        task_type="backtest",
        details=f"Testing on {len(data)} candles"
    )
    
    try:
        # 2. Update progress as operation proceeds
        for i, candle in enumerate(data):
            # Process your data...
            process_candle(candle)
            
            # Update progress
            progress = int((i / len(data)) * 100)
            update_task(task_id, progress=progress)
            
            # Optional: Update details
            if i % 100 == 0:
                update_task(task_id, details=f"Processed {i}/{len(data)} candles")
        
        # 3. Mark as completed
        update_task(
            task_id, 
            status="completed",
            details=f"Backtest completed - Win rate: 65%"
        )
        
    except Exception as e:
        # 4. Mark as failed on error
        update_task(
            task_id,
            status="failed",
            details=f"Error: {str(e)}"
        )


# ---- test harness (not from the seed) ----
from tasklight import get_active_tasks

run_backtest("Golden Cross", data)
[t] = get_active_tasks()
assert t["name"] == "Backtest - Golden Cross" and t["type"] == "backtest", t
assert t["status"] == "completed" and t["details"] == "Backtest completed - Win rate: 65%", t


def broken_candle(candle):
    raise ValueError("exchange offline")


process_candle = broken_candle
run_backtest("Broken", data)
failed = [t for t in get_active_tasks() if t["name"] == "Backtest - Broken"][0]
assert failed["status"] == "failed" and failed["error"] == "Error: exchange offline", failed

# ---- "API Functions" examples, verbatim ----
task_id = add_task("Backtest Strategy A", "backtest", "Testing on BTCUSDT")

# Update progress
update_task(task_id, progress=50)

# Update status
update_task(task_id, status="completed")

# Update multiple fields
update_task(task_id, progress=100, status="completed", details="Success!")

remove_task(task_id)

# ---- test harness (not from the seed) ----
assert task_id not in [t["id"] for t in get_active_tasks()]
print("OK", len(get_active_tasks()))
